"""Configuration: frozen dataclasses whose field names carry their units.

Each CLI flag maps to one field; environment variables are resolved here, once, so the
library and the CLI agree on precedence (an explicit value wins over the environment).
"""

from __future__ import annotations

import codecs
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from bulkload.contract.schema import (
    MAX_BODY_BYTES,
    MAX_CONCURRENT_REQUESTS,
    MAX_RECORDS_PER_REQUEST,
)
from bulkload.contract.v2schema import V2_MAX_RECORDS_PER_REQUEST
from bulkload.errors import ConfigError

DEFAULT_BASE_URL = "https://ingestion.peak.ai"
STATE_DIR_ENV = "BULKLOAD_STATE_DIR"
# More worker processes than this only adds start-up and memory: the loader process itself
# (reading, batching, sending) is the limit long before.
MAX_WORKERS = 64

CREDENTIAL_HELP = (
    "set PEAK_API_KEY (or PEAK_AUTH_TOKEN, or --api-key), or OAuth client credentials "
    "PEAK_CLIENT_ID, PEAK_CLIENT_SECRET and PEAK_TOKEN_URL (PEAK_AUDIENCE optional)"
)


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential that never shows itself in repr, str, logs or tracebacks."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: Secret
    token_url: str
    audience: str | None = None


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Where the API is and how to authenticate. Exactly one of api_key / oauth is set."""

    base_url: str = DEFAULT_BASE_URL
    api_key: Secret | None = None
    oauth: ClientCredentials | None = None
    insecure: bool = False
    request_timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    max_connections: int = MAX_CONCURRENT_REQUESTS

    def __post_init__(self) -> None:
        check_url_is_safe(self.base_url, insecure=self.insecure, what="base URL")
        if self.oauth is not None:
            check_url_is_safe(
                self.oauth.token_url, insecure=self.insecure, what="token URL (PEAK_TOKEN_URL)"
            )

    @property
    def has_credentials(self) -> bool:
        return self.api_key is not None or self.oauth is not None

    def require_credentials(self) -> None:
        if not self.has_credentials:
            raise ConfigError(f"no API credentials: {CREDENTIAL_HELP}")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        insecure: bool = False,
        request_timeout_s: float | None = None,
    ) -> ApiConfig:
        """Resolve options over environment variables (an explicit option wins)."""
        env = os.environ if env is None else env
        key = api_key or env.get("PEAK_API_KEY") or env.get("PEAK_AUTH_TOKEN") or None
        oauth = None
        if key is None:
            client_id = env.get("PEAK_CLIENT_ID")
            client_secret = env.get("PEAK_CLIENT_SECRET")
            token_url = env.get("PEAK_TOKEN_URL")
            if client_id or client_secret:
                missing = [
                    name
                    for name, value in (
                        ("PEAK_CLIENT_ID", client_id),
                        ("PEAK_CLIENT_SECRET", client_secret),
                        ("PEAK_TOKEN_URL", token_url),
                    )
                    if not value
                ]
                if missing:
                    raise ConfigError(
                        f"incomplete OAuth client credentials: set {', '.join(missing)}"
                    )
                assert client_id and client_secret and token_url
                oauth = ClientCredentials(
                    client_id=client_id,
                    client_secret=Secret(client_secret),
                    token_url=token_url,
                    audience=env.get("PEAK_AUDIENCE") or None,
                )
        config = cls(
            base_url=(base_url or env.get("PEAK_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            api_key=Secret(key) if key else None,
            oauth=oauth,
            insecure=insecure,
        )
        if request_timeout_s is not None:
            config = replace(config, request_timeout_s=request_timeout_s)
        return config


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed: the form of a URL fit for a message.

    Done on the text, not through ``urlsplit``, so a URL too broken to parse (a password
    holding ``/``, a bad port) still never shows what came before its ``@``.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in (rest.find(c) for c in "?#") if i >= 0), default=len(rest))
    _userinfo, at, after = rest[:end].rpartition("@")
    return f"{scheme}://{after}{rest[end:]}" if at else url


def _has_userinfo(url: str) -> bool:
    return url_without_userinfo(url) != url


def check_url_is_safe(url: str, *, insecure: bool, what: str) -> None:
    """Refuse what would send credentials where they must not go: plain http:// to anything
    but loopback (they would travel in clear), and ``user:password@`` in the URL (bulkload
    sends its own credential; one in a URL ends up in logs and shell history)."""
    shown = url_without_userinfo(url)
    if _has_userinfo(url):
        raise ConfigError(
            f"{what} {shown!r} was given with user info (user:password@): remove it from the "
            "URL; bulkload sends the credential of PEAK_API_KEY/--api-key or "
            "PEAK_CLIENT_ID/PEAK_CLIENT_SECRET, never one from a URL"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check: a bad one raises ValueError
    except ValueError:
        raise ConfigError(
            f"{what} {shown!r} is not a valid URL; give e.g. https://ingestion.peak.ai"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{what} {shown!r} is not an http(s) URL; give e.g. https://ingestion.peak.ai"
        )
    if parts.scheme == "http" and not insecure and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"{what} {shown!r} is plain http to a non-loopback host: credentials would travel "
            "in clear text; use https, or pass --insecure if you really mean it"
        )


# ``--delimiter`` takes these names besides a single character.
DELIMITER_NAMES = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


@dataclass(frozen=True, slots=True)
class CsvDialect:
    """How CSV inputs are written. The default is RFC 4180 in UTF-8 with a header row."""

    delimiter: str = ","  # one character, or a name of DELIMITER_NAMES ("tab")
    quote_char: str = '"'  # one character; "" for no quoting at all
    # Any Python codec name (latin-1, cp1252, utf-16...); None: UTF-8, and a row that is not
    # valid UTF-8 is rejected with its bytes kept.
    encoding: str | None = None
    has_header: bool = True  # False: every line is a row; column_names names the fields
    column_names: tuple[str, ...] | None = None  # the fields in file order, without a header
    # Field texts that also mean NULL (the empty field always does), e.g. ("NULL", "\\N").
    null_markers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        delimiter = DELIMITER_NAMES.get(self.delimiter.lower(), self.delimiter)
        object.__setattr__(self, "delimiter", delimiter)
        if len(delimiter) != 1 or delimiter in "\r\n":
            names = ", ".join(DELIMITER_NAMES)
            raise ConfigError(
                f"--delimiter must be one character (or {names}), got {self.delimiter!r}"
            )
        if len(self.quote_char) > 1 or self.quote_char in ("\r", "\n"):
            raise ConfigError(
                f"--quote must be one character (or '' for none), got {self.quote_char!r}"
            )
        if self.quote_char == delimiter:
            raise ConfigError(f"--quote and --delimiter are both {delimiter!r}: choose two")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ConfigError(
                    f"--encoding {self.encoding!r} is not a known encoding; give a Python "
                    "codec name such as utf-8, latin-1, cp1252 or utf-16"
                ) from None
        if self.column_names is not None:
            if self.has_header:
                raise ConfigError(
                    "--columns names the fields of a file without a header row: add --no-header "
                    "(with a header row, the header names the fields)"
                )
            stripped = tuple(name.strip() for name in self.column_names)
            object.__setattr__(self, "column_names", stripped)
            if not stripped or any(not name for name in stripped):
                raise ConfigError(
                    "--columns needs field names separated by commas, e.g. --columns id,name"
                )
        elif not self.has_header:
            raise ConfigError(
                "--no-header needs --columns a,b,c: the names of the fields, in file order"
            )

    @property
    def decodes_utf8(self) -> bool:
        """Whether the bytes are read as UTF-8 as they are (no transcoding)."""
        return self.encoding is None or codecs.lookup(self.encoding).name == "utf-8"


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where loads keep their checkpoints and rejects: one per-user place, so a load
    resumes whatever the working directory. ``$BULKLOAD_STATE_DIR``, else
    ``${XDG_STATE_HOME:-~/.local/state}/bulkload``."""
    env = os.environ if env is None else env
    explicit = env.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = env.get("XDG_STATE_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "bulkload"
    home = env.get("HOME")
    if not home:
        try:
            home = str(Path.home())
        except (KeyError, RuntimeError):
            raise ConfigError(
                f"no home directory to keep load state in: set {STATE_DIR_ENV} to a writable "
                "directory"
            ) from None
    return Path(home) / ".local" / "state" / "bulkload"


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """Everything ``bulkload.pipeline`` needs besides the table, the inputs and the API."""

    input_format: str | None = None  # jsonl | csv | json | parquet | rejects; None: by content
    recursive: bool = False  # directories: also the files of their subdirectories
    csv_dialect: CsvDialect = CsvDialect()
    max_batch_records: int = MAX_RECORDS_PER_REQUEST
    max_batch_bytes: int = MAX_BODY_BYTES
    concurrency: int = MAX_CONCURRENT_REQUESTS
    rate_limit_per_s: float | None = None
    max_retries: int = 10
    max_retry_time_s: float = 900.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0
    ignore_unknown_columns: bool = False
    # Input field -> column (None: drop the field), applied before matching by name.
    field_map: tuple[tuple[str, str | None], ...] = ()
    field_map_path: Path | None = None  # a JSON object {"SRC": "DST" | null}; field_map wins
    case_sensitive: bool = False  # field names must match columns exactly (no case folding)
    coerce: bool = False  # convert strings holding numbers/booleans, ISO 8601 dates
    max_bad_records: int | None = None
    checkpoint_path: Path | None = None  # None: in state_dir, named from the load
    rejects_path: Path | None = None  # None: next to the checkpoint
    state_dir: Path | None = None  # None: default_state_dir() (from the environment)
    restart: bool = False
    dry_run: bool = False
    progress: bool = False  # a bar or log lines on stderr; the CLI's default is on
    summary_json_path: Path | None = None
    drain_timeout_s: float = 30.0
    read_buffer_bytes: int = 1 << 20
    queue_batches: int = 64
    # and at most this many bytes of their bodies (64 batches of small records are ~8 MB,
    # of wide ones up to 64 MB)
    queue_bytes: int = 8 << 20
    # Processes that validate and serialize chunks (0: all in the loader process; None:
    # auto, a worker per usable core but one, started once the input proves large).
    workers: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch_records <= V2_MAX_RECORDS_PER_REQUEST:
            raise ConfigError(
                f"--max-records must be 1-{MAX_RECORDS_PER_REQUEST} "
                f"(1-{V2_MAX_RECORDS_PER_REQUEST} for a Peak v2 object), got {self.max_batch_records}"
            )
        if not 3 <= self.max_batch_bytes <= MAX_BODY_BYTES:
            raise ConfigError(
                f"--max-bytes must be 3-{MAX_BODY_BYTES:,}, got {self.max_batch_bytes}"
            )
        if not 1 <= self.concurrency <= MAX_CONCURRENT_REQUESTS:
            raise ConfigError(
                f"--concurrency must be 1-{MAX_CONCURRENT_REQUESTS} (the API's per-tenant cap), "
                f"got {self.concurrency}"
            )
        if self.rate_limit_per_s is not None and self.rate_limit_per_s <= 0:
            raise ConfigError(f"--rate must be positive, got {self.rate_limit_per_s}")
        if self.workers is not None and not 0 <= self.workers <= MAX_WORKERS:
            raise ConfigError(f"--workers must be auto or 0-{MAX_WORKERS}, got {self.workers}")
        if self.max_retries < 0:
            raise ConfigError(f"--max-retries must be 0 or more, got {self.max_retries}")
        if self.max_bad_records is not None and self.max_bad_records < 0:
            raise ConfigError(f"--max-bad-records must be 0 or more, got {self.max_bad_records}")
        if self.input_format not in (None, "jsonl", "csv", "json", "parquet", "rejects"):
            raise ConfigError(
                f"--format {self.input_format!r} is not one of jsonl, csv, json, parquet, rejects"
            )
