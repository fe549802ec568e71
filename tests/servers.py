"""Real HTTP servers on 127.0.0.1 for the tests: a route whose speed and headers we control,
and the example FastAPI service under uvicorn."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "search_service"


@dataclass
class Behaviour:
    """What the server does; tests change it between baseline and ship."""

    delay: float = 0.0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    #: The request paths (with query strings), in order.
    paths: list[str] = field(default_factory=list)
    #: Statuses used in turn instead of ``status`` (e.g. nine 200s and a 500).
    statuses: list[int] = field(default_factory=list)
    #: Serve repeated paths from a cache: the first request is a slow MISS, then fast HITs.
    cache: bool = False
    cached: set[str] = field(default_factory=set)
    body: bytes = b'{"ok": true}'


class TestServer:
    """A threaded HTTP/1.1 server on a free loopback port."""

    __test__ = False

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per response and no Nagle delay: without these, delayed ACKs
            # add ~40 ms to every keep-alive response and swamp what we measure.
            wbufsize = 64 * 1024
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def _serve(self) -> None:
                b = server.behaviour
                if self.path == "/__clear":  # what a --clear-cache command calls
                    b.cached.clear()
                    self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                b.requests.append({k.lower(): v for k, v in self.headers.items()})
                b.paths.append(self.path)
                extra = dict(b.headers)
                if b.cache and self.path in b.cached:
                    extra["X-Cache"] = "HIT"
                else:
                    if b.cache:
                        extra["X-Cache"] = "MISS"
                        b.cached.add(self.path)
                    if b.delay:
                        time.sleep(b.delay)
                status = (
                    b.statuses[(len(b.requests) - 1) % len(b.statuses)] if b.statuses else b.status
                )
                body = b.body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        port = self.httpd.server_address[1]
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on (now: a server should retry if it is taken)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate, wait, kill if it must: no process is left behind."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def example_service(workdir: Path, cache: bool = False) -> Iterator[str]:
    """``examples/search_service`` under uvicorn on a free 127.0.0.1 port: its base URL.

    Its SQLite file and its log (read when it fails to start) are in ``workdir``. It is
    stopped (terminate, wait, kill) on the way out.
    """
    import httpx

    port = free_port()
    env = {**os.environ, "SEARCH_DB": str(workdir / "search.db")}
    env["SEARCH_CACHE"] = "1" if cache else "0"
    log_path = workdir / "uvicorn.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(EXAMPLE),
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the example service did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        stop_process(proc)
