"""What a webhook sends and how: the body, its signature, one HTTP POST.

Body: ``{"id", "type", "occurred_at", "account", "data"}`` as compact JSON, or
``{"text": ...}`` for Slack incoming webhooks. Headers ``X-ABM-Timestamp``
(Unix seconds) and ``X-ABM-Signature`` = hex HMAC-SHA256 of
``f"{timestamp}.{body}"`` under the subscription's secret, so a receiver
can check both who sent it and that it is fresh (reject old timestamps).
"""

import hashlib
import hmac
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from events.models import Event
from events.selectors import event_text

USER_AGENT = "abm-funnel-webhooks/1"


def event_body(event: Event) -> dict[str, Any]:
    """The JSON document of an event (the API's event without its key)."""
    data = {k: v for k, v in event.payload.items() if k != "account"}
    return {
        "id": event.pk,
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat(),
        "account": event.payload.get("account"),
        "data": data,
    }


def body_bytes(event: Event, slack: bool) -> bytes:
    document = {"text": event_text(event)} if slack else event_body(event)
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``timestamp + "." + body`` under ``secret``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_code: int | None
    duration_ms: int
    error: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an order: it could point at a private address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None


def _pinned(connection_class: type, address: str | None) -> Any:
    """``connection_class`` that connects to ``address`` (the one the target check
    approved) instead of resolving the host name again: a name that resolves elsewhere
    between the check and the connection (DNS rebinding) cannot redirect the POST. The
    Host header and TLS server name stay the URL's host, so certificates still verify."""

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = connection_class(host, **kwargs)
        if address is not None:

            def connect_to_checked(target: tuple[str, int], *args: Any) -> socket.socket:
                return socket.create_connection((address, target[1]), *args)

            connection._create_connection = connect_to_checked
        return connection

    return make


class _PinnedHTTP(urllib.request.HTTPHandler):
    def __init__(self, address: str | None) -> None:
        super().__init__()
        self.address = address

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_pinned(http.client.HTTPConnection, self.address), req)


class _PinnedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, address: str | None) -> None:
        super().__init__()
        self.address = address

    def https_open(self, req: urllib.request.Request) -> Any:
        connection = _pinned(http.client.HTTPSConnection, self.address)
        return self.do_open(connection, req, context=self._context)


def _opener(address: str | None) -> urllib.request.OpenerDirector:
    """No proxies from the environment (the address check must see the real target), no
    redirects, and the connection pinned to the checked address."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _NoRedirects, _PinnedHTTP(address), _PinnedHTTPS(address)
    )


def post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, address: str | None = None
) -> Outcome:
    """POST ``body`` (to ``address``, the checked address of the URL's host, when given);
    a 2xx answer within ``timeout`` seconds is a success."""
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by target_check
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
    )
    started = time.monotonic()
    code, error = None, ""
    try:
        with _opener(address).open(request, timeout=timeout) as response:
            code = response.status
            response.read(4096)
    except urllib.error.HTTPError as exc:
        code = exc.code
        error = f"The receiver answered HTTP {exc.code}" + (
            " (redirects are not followed)" if 300 <= exc.code < 400 else ""
        )
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        error = f"No answer: {reason}"
    duration = int((time.monotonic() - started) * 1000)
    ok = code is not None and 200 <= code < 300
    return Outcome(ok, code, duration, "" if ok else error or f"HTTP {code}")
