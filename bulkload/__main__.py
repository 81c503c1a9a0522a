from bulkload.cli import main

# Guarded: worker processes (--workers) are spawned, and a spawned child imports the
# parent's main module again; under `python -m bulkload` that is this file.
if __name__ == "__main__":
    main()
