"""A loopback HTTP proxy in front of the emulator that makes some requests fail, for tests.

Each request is forwarded to the emulator unless the proxy picks a fault for it (seeded, at a
given rate). The faults are what a real network and a busy AWS do:

- `lost`: the request is forwarded and carried out, then the connection drops before any answer;
- `dropped`: the connection drops before the request is forwarded;
- `500`, `503`: a server error, the request not forwarded;
- `throttled`: 400 with the service's throttling error, not forwarded;
- `concurrent`: 400 with ConcurrentModificationException (Organizations only; others throttle);
- `slow`: forwarded after a short delay.

The proxy is bounded: it serves at most `max_requests` requests and runs at most `max_seconds`,
then stops itself. It only ever listens on and connects to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("lost", "dropped", "500", "503", "throttled", "concurrent", "slow")
_SKIPPED_HEADERS = frozenset({"connection", "transfer-encoding", "keep-alive", "content-length"})


class FaultProxy:
    """Forwards to `upstream` (http://127.0.0.1:PORT); `rate` of the requests get a fault."""

    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        seed: int,
        faults: tuple[str, ...] = FAULTS,
        max_requests: int = 20_000,
        max_seconds: float = 300.0,
        slow_seconds: float = 0.02,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname != "127.0.0.1" or parts.port is None:
            raise ValueError(f"the proxy forwards to 127.0.0.1 only, not {upstream}")
        self.upstream_port = parts.port
        self.rate = rate
        self.faults = faults
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.slow_seconds = slow_seconds
        self.injected: Counter[str] = Counter()  # fault → how many times
        self.by_operation: Counter[tuple[str, str]] = Counter()  # (operation, fault) → count
        self.requests = 0
        self.enabled = True  # False: forward everything untouched
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        # Never outlive the time it was given, whatever the test does.
        self._timer = threading.Timer(self.max_seconds, self.stop)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def choose(self, operation: str) -> str | None:
        """The fault for the next request, or None; stops the proxy past `max_requests`."""
        with self._lock:
            self.requests += 1
            if self.requests > self.max_requests:
                threading.Thread(target=self.stop, daemon=True).start()
                return "dropped"
            if not self.enabled or self._random.random() >= self.rate:
                return None
            fault = self._random.choice(self.faults)
            self.injected[fault] += 1
            self.by_operation[(operation, fault)] += 1
            return fault

    def forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


@contextmanager
def fault_proxy(upstream: str, *, rate: float, seed: int, **options: float) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, rate=rate, seed=seed, **options)  # type: ignore[arg-type]
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def _operation(headers: dict[str, str], body: bytes) -> str:
    """The AWS operation a request asks for, as far as the request shows it."""
    target = headers.get("x-amz-target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    for pair in body.split(b"&"):
        if pair.startswith(b"Action="):
            return pair[len(b"Action=") :].decode("ascii", "replace")
    return "S3"


def _error_answer(fault: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    """(status, content type, body) of a server or throttling error in the service's dialect."""
    status = {"500": 500, "503": 503}.get(fault, 400)
    code = {
        "500": "InternalFailure",
        "503": "ServiceUnavailable",
        "throttled": "TooManyRequestsException",
        "concurrent": "ConcurrentModificationException",
    }[fault]
    if "x-amz-target" in headers:  # JSON protocol: Organizations
        body = json.dumps({"__type": code, "message": f"injected {fault}"}).encode()
        return status, "application/x-amz-json-1.1", body
    if fault in ("throttled", "concurrent"):
        code = "Throttling"  # the query and REST services' name for it
    if "x-www-form-urlencoded" in headers.get("content-type", ""):  # query: STS, IAM, CFN
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>injected {fault}</Message></Error><RequestId>fault</RequestId>"
            "</ErrorResponse>"
        ).encode()
        return status, "text/xml", body
    if fault in ("throttled", "concurrent"):
        status, code = 503, "SlowDown"  # S3 throttles with a 503
    body = f"<Error><Code>{code}</Code><Message>injected {fault}</Message></Error>".encode()
    return status, "application/xml", body


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet

        def _serve(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size) if size else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            fault = proxy.choose(_operation(headers, body))
            if fault == "dropped":
                self._drop()
                return
            if fault in ("500", "503", "throttled", "concurrent"):
                status, content_type, answer = _error_answer(fault, headers)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
            if fault == "slow":
                time.sleep(proxy.slow_seconds)
            forwarded = {k: v for k, v in self.headers.items() if k.lower() not in _SKIPPED_HEADERS}
            status, answer_headers, answer = proxy.forward(self.command, self.path, body, forwarded)
            if fault == "lost":
                self._drop()
                return
            self.send_response(status)
            for key, value in answer_headers:
                if key.lower() not in _SKIPPED_HEADERS:
                    self.send_header(key, value)
            if self.command == "HEAD":
                length = {k.lower(): v for k, v in answer_headers}.get("content-length", "0")
                self.send_header("Content-Length", length)
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def _drop(self) -> None:
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler
