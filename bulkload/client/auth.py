"""Credentials on the wire: a fixed API key, or OAuth client credentials exchanged for a token.

Both send ``Authorization: <token>`` raw (no ``Bearer``), as Peak's SDK does. An OAuth
token is cached and refreshed ahead of expiry; concurrent callers that find it stale share
one refresh, so a burst of 30 requests on an expired token costs one token request.

A token whose ``expires_in`` is 0 or less is expired on arrival: it serves the one request
that asked for it, and the next request asks for a new one (reading it as "a day", as a
missing ``expires_in`` is, would send a dead token again and again). The token request
follows no redirect: the client secret goes to the configured token URL or nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import orjson

from bulkload.client.redirects import is_redirect, redirected
from bulkload.client.retry_after import parse_retry_after
from bulkload.config import ClientCredentials, Secret
from bulkload.errors import ApiError, AuthError, ServerFault, Throttled, TransportError

log = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME_S = 86400.0
# Refresh this early (capped at a tenth of the lifetime) so a request never leaves with a
# token that expires on the way.
REFRESH_MARGIN_S = 60.0
REFRESH_MARGIN_FRACTION = 0.1

OAUTH_CREDENTIAL_HELP = (
    "check PEAK_CLIENT_ID and PEAK_CLIENT_SECRET (and PEAK_AUDIENCE if your tenant needs one)"
)
API_KEY_CREDENTIAL_HELP = "check PEAK_API_KEY (or PEAK_AUTH_TOKEN, or --api-key)"
# The token endpoint took the client credentials, so they are right: the token is for
# another API or audience, or it died at once.
FRESH_TOKEN_HELP = (
    "check that PEAK_TOKEN_URL (and PEAK_AUDIENCE) belong to the API at PEAK_BASE_URL"
)


class Authenticator(Protocol):
    """What the HTTP client needs from a credential."""

    @property
    def refreshable(self) -> bool:
        """True when a rejected token can be replaced by a fresh one (worth one retry)."""
        ...

    def rejected_message(self, status: int) -> str:
        """The message for a final 401/403, naming what to check (never a secret)."""
        ...

    async def token(self) -> str: ...

    def invalidate(self, token: str) -> None:
        """Forget ``token`` if it is still the current one (the server refused it)."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Every secret value this credential knows, to scrub from any message."""
        ...


class ApiKeyAuth:
    """A tenant API key, sent as is."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return "ApiKeyAuth(***)"

    @property
    def refreshable(self) -> bool:
        return False

    def rejected_message(self, status: int) -> str:
        return f"the API key was not accepted ({status}): {API_KEY_CREDENTIAL_HELP}"

    async def token(self) -> str:
        return self._secret.value

    def invalidate(self, token: str) -> None:
        # A key cannot be renewed; the caller turns the refusal into an AuthError.
        return None

    def secrets(self) -> tuple[str, ...]:
        return (self._secret.value,)


class OAuthClientCredentials:
    """OAuth client-credentials grant with a cached, shared, early-refreshed token."""

    def __init__(
        self,
        credentials: ClientCredentials,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._session = session
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._last_lifetime_s: float | None = None
        self._warned_expired_on_arrival = False
        self.token_requests = 0  # how many times the token endpoint was asked; for tests/stats

    def __repr__(self) -> str:
        return f"OAuthClientCredentials(client_id={self._credentials.client_id!r}, secret=***)"

    @property
    def refreshable(self) -> bool:
        return True

    def rejected_message(self, status: int) -> str:
        # Called once a token asked for after the refusal of another was refused too.
        lifetime = self._last_lifetime_s
        if lifetime is not None and lifetime <= 0:
            why = (
                f", which the token endpoint said expires in {lifetime:g} s: its tokens die "
                "on arrival or are not for this API"
            )
        else:
            why = (
                ": the token endpoint accepted the client credentials, but its tokens do not "
                "work here"
            )
        return (
            f"the API refused a freshly issued OAuth access token ({status}){why}; "
            f"{FRESH_TOKEN_HELP}"
        )

    def _current(self) -> str | None:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        return None

    async def token(self) -> str:
        current = self._current()
        if current is not None:
            return current
        async with self._lock:
            # Whoever held the lock before us may have refreshed already: no stampede.
            current = self._current()
            if current is not None:
                return current
            token, lifetime_s = await self._request_token()
            self._token = token
            self._last_lifetime_s = lifetime_s
            if lifetime_s <= 0:
                # Expired on arrival: this caller uses it once, everyone else asks anew.
                self._refresh_at = -math.inf
                self._warn_expired_on_arrival(lifetime_s)
            else:
                margin_s = min(REFRESH_MARGIN_S, REFRESH_MARGIN_FRACTION * lifetime_s)
                self._refresh_at = self._clock() + lifetime_s - margin_s
            return token

    def _warn_expired_on_arrival(self, lifetime_s: float) -> None:
        if self._warned_expired_on_arrival:
            return
        self._warned_expired_on_arrival = True
        log.warning(
            "the OAuth token endpoint issued a token that expires in %g s: each request "
            "will ask for a new token",
            lifetime_s,
        )

    def invalidate(self, token: str) -> None:
        # Only the token that was refused: a concurrent caller may have replaced it already.
        if token == self._token:
            self._token = None

    def secrets(self) -> tuple[str, ...]:
        values = [self._credentials.client_secret.value]
        if self._token is not None:
            values.append(self._token)
        return tuple(values)

    async def _request_token(self) -> tuple[str, float]:
        credentials = self._credentials
        form = {
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.value,
        }
        if credentials.audience:
            form["audience"] = credentials.audience
        self.token_requests += 1
        try:
            async with self._session.post(
                credentials.token_url,
                data=form,
                headers={"Accept": "application/json"},
                allow_redirects=False,
            ) as response:
                status = response.status
                location = response.headers.get("Location")
                retry_after = response.headers.get("Retry-After")
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # A token request stores nothing, so asking again is never in doubt.
            raise TransportError(
                f"could not get an OAuth token from {credentials.token_url}: {type(exc).__name__}; "
                "check PEAK_TOKEN_URL and the network",
                in_doubt=False,
            ) from None
        if is_redirect(status):
            raise redirected(
                status,
                credentials.token_url,
                location,
                subject=f"the OAuth token endpoint {credentials.token_url}",
                check="PEAK_TOKEN_URL: it must be the token endpoint's own address",
            )
        if status in (400, 401, 403):
            raise AuthError(
                f"the OAuth token endpoint refused the client credentials ({status}): "
                f"{OAUTH_CREDENTIAL_HELP}",
                status=status,
            )
        if status == 429:
            raise Throttled(
                f"the OAuth token endpoint throttled the request ({status})",
                retry_after_s=parse_retry_after(retry_after),
            )
        if status >= 500:
            raise ServerFault(
                f"the OAuth token endpoint failed ({status}); this is usually transient",
                status=status,
            )
        if not 200 <= status < 300:
            raise ApiError(
                f"the OAuth token endpoint answered {status}: check PEAK_TOKEN_URL", status=status
            )
        return _parse_token_body(body, credentials.token_url, status)


def _parse_token_body(body: bytes, token_url: str, status: int) -> tuple[str, float]:
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    token = parsed.get("access_token") if isinstance(parsed, dict) else None
    if not isinstance(token, str) or not token:
        raise ApiError(
            f"the OAuth token endpoint {token_url} answered {status} without an access_token: "
            "check PEAK_TOKEN_URL",
            status=status,
        )
    return token, _lifetime_s(parsed.get("expires_in"))


def _lifetime_s(value: Any) -> float:
    """Seconds from ``expires_in``: a number or numeric text; missing or unreadable means the
    contract's day; 0 or less is kept (expired on arrival), not mistaken for missing."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return DEFAULT_TOKEN_LIFETIME_S
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        return DEFAULT_TOKEN_LIFETIME_S
    return seconds if math.isfinite(seconds) else DEFAULT_TOKEN_LIFETIME_S
