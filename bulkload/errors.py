"""The one exception tree of bulkload.

Every error a user can cause or meet ends up as one of these; lower-layer errors
(aiohttp, OSError, JSON decoding) are translated once, at the boundary that meets
them, so nothing above ``client/http.py`` ever sees an aiohttp exception.
Whether an error is worth retrying is data on its class (``retriable``), not a
decision scattered over ``except`` clauses.

    BulkloadError                      root; ``exit_code`` says what the CLI exits with
    ├── UsageError                     bad option, bad config, refused resume (exit 2)
    │   ├── ConfigError                missing/contradictory settings, insecure URL
    │   ├── InputError                 unreadable input file, unknown format
    │   ├── SchemaDefinitionError      a table definition breaks the contract's rules
    │   ├── CheckpointMismatch         inputs/options changed since the checkpoint
    │   └── CheckpointInUse            the same load is running in another process
    ├── CheckpointCorrupt              checkpoint file damaged: never silently trusted
    ├── TooManyBadRecords              --max-bad-records exceeded
    ├── InternalError                  an unexpected exception (a bug); details in a file
    ├── InterruptedBeforeStart         a stop signal came before anything was sent (128+sig)
    ├── WorkerFailed                   a worker process (--workers) ended abruptly
    ├── BooksDoNotBalance              the count check before "finished" failed
    └── ApiError                       the API answered, or could not be reached
        ├── AuthError                  401/403: the credential is not accepted
        ├── NotFound                   404: unknown table
        ├── Conflict                   409: table exists
        ├── RequestTooLarge            413: body over the byte limit (split it)
        ├── Redirected                 3xx: never followed; ``location`` names where to
        ├── RecordsRejected            400: the request was refused; ``record_errors``
        ├── Throttled     retriable    429; ``retry_after_s`` parsed from either form
        ├── ServerFault   retriable    5xx
        ├── TransportError retriable   connection reset/refused, timeout, lost answer
        └── RetriesExhausted           a retriable failure outlasted the retry policy

Messages are one line, name the thing and say what to do, and never contain secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REJECTS = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT; SIGTERM gives 143, SIGHUP 129


def exit_code_for_signal(signum: int) -> int:
    """What a process stopped by signal ``signum`` exits with (the shell's convention)."""
    return 128 + signum


class BulkloadError(Exception):
    """Root of every error bulkload raises on purpose."""

    retriable: bool = False
    exit_code: int = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(BulkloadError):
    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    pass


class InputError(UsageError):
    pass


class SchemaDefinitionError(UsageError):
    """A table definition breaks the contract's rules; ``problems`` lists them all."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        if self.problems:
            message = f"{message}: " + "; ".join(self.problems)
        super().__init__(message)


class CheckpointMismatch(UsageError):
    pass


class CheckpointInUse(UsageError):
    """Another process holds this load's lock: two runs of one load would duplicate rows."""


class CheckpointCorrupt(BulkloadError):
    exit_code = EXIT_USAGE


class TooManyBadRecords(BulkloadError):
    pass


class ApiError(BulkloadError):
    """The API answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class RequestTooLarge(ApiError):
    pass


class Redirected(ApiError):
    """A 3xx answer. Never followed: the request and its credential would go elsewhere.

    ``location`` is where the server pointed, as ``scheme://host[:port]`` (no path, no
    user info), or None when it gave no usable ``Location``.
    """

    def __init__(self, message: str, *, status: int | None, location: str | None) -> None:
        super().__init__(message, status=status)
        self.location = location


@dataclass(frozen=True, slots=True)
class RecordError:
    """One per-record complaint from a 400 body; any field may be missing."""

    record: int | None
    column: str | None
    message: str


class RecordsRejected(ApiError):
    """A 400: nothing of the request was stored. ``record_errors`` is a hint only."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 400,
        record_errors: list[RecordError] | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.record_errors = list(record_errors or [])


class Throttled(ApiError):
    retriable = True

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s


class ServerFault(ApiError):
    retriable = True


class TransportError(ApiError):
    """No answer: connection refused/reset, timeout, or the answer was lost.

    A request that ends this way may or may not have been stored (``in_doubt``).
    """

    retriable = True

    def __init__(self, message: str, *, in_doubt: bool = True) -> None:
        super().__init__(message, status=None)
        self.in_doubt = in_doubt


class RetriesExhausted(ApiError):
    """A retriable failure (429, 5xx, no answer) outlasted the retry policy for one request."""

    def __init__(
        self, message: str, *, status: int | None = None, attempts: int, elapsed_s: float
    ) -> None:
        super().__init__(message, status=status)
        self.attempts = attempts
        self.elapsed_s = elapsed_s


class BooksDoNotBalance(BulkloadError):
    """The count check before marking a load finished failed: some batch cut was neither
    acknowledged nor done by an earlier run. The checkpoint stays unfinished."""


class InterruptedBeforeStart(BulkloadError):
    """A stop signal arrived during start-up (token, table fetch and their retries, the
    checkpoint): nothing was sent, so there is nothing to drain or save."""

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(
            f"interrupted ({signal_name}) before the load started; nothing was sent: "
            "rerun the same command to load"
        )
        self.exit_code = exit_code


class WorkerFailed(BulkloadError):
    """A worker process checking chunks (``--workers``) ended abruptly: killed, or out of
    memory. What was acknowledged is in the checkpoint, so a rerun resumes."""


class InternalError(BulkloadError):
    """An unexpected exception (a bug, a RecursionError, a MemoryError) ended the run.

    The original is the ``__cause__``; its traceback, scrubbed of secrets, is in
    ``details_path`` when that could be written. The checkpoint is never marked finished
    by such a run, so rerunning the same command sends what was not acknowledged.
    """

    def __init__(self, message: str, *, details_path: str | None = None) -> None:
        super().__init__(message)
        self.details_path = details_path
