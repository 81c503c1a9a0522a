"""aiohttp's import-time TLS contexts load the CA store at their first handshake (client/tls.py).

Each check runs in a fresh interpreter: aiohttp is imported once per process, and this
test process has imported it long ago. The handshake itself, over loopback with a store
that trusts the server and one that does not, is in test_hostile_client.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import orjson

# Counts every real CA store load, from before bulkload (or aiohttp) is imported.
_COUNTING = """
import json, ssl
loads = []
_real = ssl.SSLContext.set_default_verify_paths
def _counting(self):
    loads.append(type(self).__name__)
    return _real(self)
ssl.SSLContext.set_default_verify_paths = _counting
"""


def run_fresh(body: str) -> dict[str, object]:
    code = _COUNTING + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    result: dict[str, object] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def test_importing_the_client_loads_no_ca_store_and_the_first_handshake_loads_it_once() -> None:
    out = run_fresh(
        """
        import bulkload.client.http
        import aiohttp.connector as connector
        from bulkload.client.tls import DeferredStoreContext
        verified = connector._SSL_CONTEXT_VERIFIED
        unverified = connector._SSL_CONTEXT_UNVERIFIED
        out = {"at_import": len(loads),
               "deferred": [isinstance(c, DeferredStoreContext) for c in (verified, unverified)],
               "empty_before": verified.cert_store_stats()["x509_ca"]}
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        verified.wrap_bio(incoming, outgoing, server_hostname="example.com")  # a handshake's start
        verified.wrap_bio(incoming, outgoing, server_hostname="example.com")
        out["after_two_handshakes"] = len(loads)
        reference = ssl.create_default_context()
        out["same_store"] = verified.cert_store_stats() == reference.cert_store_stats()
        out["same_settings"] = [
            (verified.verify_mode, verified.check_hostname, verified.options)
            == (reference.verify_mode, reference.check_hostname, reference.options),
            unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname,
        ]
        out["later_contexts_plain"] = type(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)).__name__
        out["restored"] = ssl.SSLContext.set_default_verify_paths is _counting
        """
    )
    assert out["at_import"] == 0
    assert out["deferred"] == [True, True]
    assert out["empty_before"] == 0
    assert out["after_two_handshakes"] == 1  # the verified context's store, once
    assert out["same_store"] is True
    assert out["same_settings"] == [True, True]
    assert out["later_contexts_plain"] == "SSLContext"
    assert out["restored"] is True


def test_aiohttp_imported_before_bulkload_is_left_as_it_is() -> None:
    out = run_fresh(
        """
        import aiohttp
        before = len(loads)
        import bulkload.client.http
        import aiohttp.connector as connector
        out = {"before": before, "after": len(loads),
               "type": type(connector._SSL_CONTEXT_VERIFIED).__name__}
        """
    )
    assert out == {"before": 2, "after": 2, "type": "SSLContext"}
