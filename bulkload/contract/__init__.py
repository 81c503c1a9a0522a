"""The API's rules, shared by the client side and the emulator. Imports nothing else of bulkload
except ``bulkload.errors``."""
