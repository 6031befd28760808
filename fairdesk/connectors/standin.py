"""Local stand-in servers for the platforms (X, Meta, Mastodon, Bluesky).

A stand-in is a small threaded HTTP server on loopback that implements the documented
endpoints a connector calls, keeps what was posted in memory, and can be told to answer
the next requests with a fault (429 with reset headers, 5xx). Tests and ``fairdesk
demo`` run the whole path — webhook in, reply out — against them without the internet.

Each platform subclasses ``StandIn`` in ``<kind>/standin.py`` and registers routes with
``route(method, pattern)``; a handler gets a ``Request`` and returns a ``Response``.
"""

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode() if self.body is not None else b""


Handler = Callable[[Request], Response]


@dataclass
class Fault:
    response: Response
    times: int
    method: str | None
    path: re.Pattern[str] | None

    def matches(self, request: Request) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        return self.path is None or bool(self.path.search(request.path))


class StandIn:
    """A platform on loopback. ``with Sub() as server:`` starts it; ``server.url``."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up ---------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead."""
        with self.lock:
            self.faults.append(
                Fault(
                    Response(
                        status, body if body is not None else {"error": status}, headers or {}
                    ),
                    times,
                    method,
                    re.compile(path) if path else None,
                )
            )

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> "StandIn":
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def requests_to(self, method: str, pattern: str) -> list[Request]:
        compiled = re.compile(pattern)
        with self.lock:
            return [r for r in self.requests if r.method == method and compiled.search(r.path)]

    # -- dispatch -------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            for fault in self.faults:
                if fault.times > 0 and fault.matches(request):
                    fault.times -= 1
                    return fault.response
            found = self._find_route(request)
        if found is None:
            return Response(404, {"error": f"no route for {request.method} {request.path}"})
        try:
            return found(request)
        except Exception as exc:  # a bug in a stand-in shows as a 500, like a platform
            return Response(500, {"error": f"{type(exc).__name__}: {exc}"})

    def _find_route(self, request: Request) -> Handler | None:
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                request.params = {k: v for k, v in match.groupdict().items() if v}
                return handler
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                response = standin.dispatch(request)
                payload = response.encoded()
                self.send_response(response.status)
                headers = {"Content-Type": "application/json", **response.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return _Handler
