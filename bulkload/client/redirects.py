"""Redirects are never followed: a 3xx answer becomes ``Redirected``, naming where it pointed.

Following one would resend the request, with its ``Authorization`` header or its client
secret, to whatever host the answer names, maybe in clear text (https -> http), and would
replay a POST that may already be stored. A real Ingestion API does not redirect; an
address that does is the wrong one to configure.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from bulkload.errors import Redirected

MAX_LOCATION_CHARS = 100


def is_redirect(status: int) -> bool:
    return 300 <= status < 400


def location_origin(request_url: str, location: str | None) -> str | None:
    """``scheme://host[:port]`` of where ``location`` points (resolved against the request's
    URL), without path, query or user info; None when there is no usable location."""
    if location is None or not location.strip():
        return None
    try:
        parts = urlsplit(urljoin(request_url, location.strip()))
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not parts.scheme or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    origin = f"{parts.scheme}://{host}" if port is None else f"{parts.scheme}://{host}:{port}"
    # One printable line: the header is the server's text, not ours.
    origin = "".join(ch for ch in origin if ch.isprintable() and not ch.isspace())
    return origin[:MAX_LOCATION_CHARS]


def redirected(
    status: int, request_url: str, location: str | None, *, subject: str, check: str
) -> Redirected:
    """The error for a 3xx; ``subject`` starts the sentence, ``check`` names the setting."""
    origin = location_origin(request_url, location)
    where = f"a redirect to {origin}" if origin else "a redirect without a usable Location"
    return Redirected(
        f"{subject} answered {status} with {where}; bulkload follows no redirects, so "
        f"neither the request nor its credential was sent there: check {check}",
        status=status,
        location=origin,
    )
