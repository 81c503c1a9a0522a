"""aiohttp imported without paying for a CA store it may never use.

``aiohttp.connector`` builds its two default TLS contexts when it is imported, and each
loads the system's CA store (``set_default_verify_paths``: OpenSSL parses the whole bundle,
~20 ms each here; benchmarks/PROFILE.md). Every bulkload run paid that at start-up, and a
load into the embedded emulator (plain http) never makes a TLS connection at all.

While aiohttp is first imported, ``SSLContext.set_default_verify_paths`` notes the request
on the context instead of carrying it out, and makes the context a ``DeferredStoreContext``
(the same object, a subclass adding only the hook): the store is loaded, once, just before
its first handshake (``wrap_bio``, which asyncio calls, and ``wrap_socket``). Everything
else about the contexts is what ssl and aiohttp make of them, so a session verifies exactly
as before, trusting the same store (SSL_CERT_FILE and SSL_CERT_DIR included), for bulkload
and for any other code of the process using aiohttp. If aiohttp is already imported, nothing is done.
"""

from __future__ import annotations

import contextlib
import ssl
import sys
import threading
from collections.abc import Iterator
from typing import Any

_load_lock = threading.Lock()


class DeferredStoreContext(ssl.SSLContext):
    """An SSLContext that loads the default CA store at its first handshake, not when made."""

    _store_pending = False

    def load_store_now(self) -> None:
        """Load the default CA store if it was asked for and is not loaded yet."""
        if self._store_pending:
            with _load_lock:
                if self._store_pending:
                    _REAL_SET_DEFAULT_VERIFY_PATHS(self)
                    self._store_pending = False

    def set_default_verify_paths(self) -> None:
        # asked again, now: done now (and not a second time at the handshake)
        with _load_lock:
            _REAL_SET_DEFAULT_VERIFY_PATHS(self)
            self._store_pending = False

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self.load_store_now()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self.load_store_now()
        return super().wrap_socket(*args, **kwargs)


_REAL_SET_DEFAULT_VERIFY_PATHS = ssl.SSLContext.set_default_verify_paths


def _defer_the_store(context: ssl.SSLContext) -> None:
    context.__class__ = DeferredStoreContext
    context._store_pending = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def _contexts_defer_their_store() -> Iterator[None]:
    own = "set_default_verify_paths" in ssl.SSLContext.__dict__
    ssl.SSLContext.set_default_verify_paths = _defer_the_store  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        if own:
            ssl.SSLContext.set_default_verify_paths = _REAL_SET_DEFAULT_VERIFY_PATHS  # type: ignore[method-assign]
        else:
            del ssl.SSLContext.set_default_verify_paths


def import_aiohttp() -> None:
    """Import aiohttp, its default TLS contexts deferring their CA store (see above)."""
    if "aiohttp" in sys.modules:
        return
    with _contexts_defer_their_store():
        import aiohttp  # noqa: F401


__all__ = ["DeferredStoreContext", "import_aiohttp"]
