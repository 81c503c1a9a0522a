"""Who may call the emulated API: static API keys and OAuth client-credentials tokens.

Credentials are compared in constant time and never echoed: every refusal names what
was wrong with the credential, not the credential itself.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass


def _same(given: str, expected: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str and headers can carry any byte.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


class Unauthorized(Exception):
    """The credential is missing, unknown or expired; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in_s: int


def credential_from_header(header: str | None) -> str:
    """``Authorization: <key>`` or ``Authorization: Bearer <key>`` (contract 2)."""
    if header is None or not header.strip():
        raise Unauthorized("missing Authorization header: send 'Authorization: <API key or token>'")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    return header.strip()


class Authenticator:
    def __init__(
        self,
        *,
        api_keys: tuple[str, ...],
        client_id: str | None,
        client_secret: str | None,
        token_ttl_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._api_keys = api_keys
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_ttl_s = token_ttl_s
        self._clock = clock
        self._token_expiry: dict[str, float] = {}

    def check(self, header: str | None) -> None:
        """Raise Unauthorized unless the header carries a known key or a live token."""
        credential = credential_from_header(header)
        if any(_same(credential, key) for key in self._api_keys):
            return
        expires_at = self._token_expiry.get(credential)
        if expires_at is None:
            raise Unauthorized("the API key or token is not valid")
        if self._clock() >= expires_at:
            del self._token_expiry[credential]
            raise Unauthorized("the access token has expired: request a new one")

    def issue_token(self, form: Mapping[str, str]) -> IssuedToken:
        """The client-credentials grant; Unauthorized on anything but an exact match."""
        if form.get("grant_type") != "client_credentials":
            raise Unauthorized("grant_type must be client_credentials")
        if self._client_id is None or self._client_secret is None:
            raise Unauthorized("this emulator has no OAuth client configured")
        client_id_ok = _same(form.get("client_id", ""), self._client_id)
        secret_ok = _same(form.get("client_secret", ""), self._client_secret)
        if not (client_id_ok and secret_ok):
            raise Unauthorized("unknown client_id or wrong client_secret")
        self._forget_expired()
        token = secrets.token_urlsafe(32)
        self._token_expiry[token] = self._clock() + self._token_ttl_s
        return IssuedToken(access_token=token, expires_in_s=max(1, round(self._token_ttl_s)))

    def _forget_expired(self) -> None:
        now = self._clock()
        for token in [t for t, expiry in self._token_expiry.items() if now >= expiry]:
            del self._token_expiry[token]
