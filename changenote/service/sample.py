"""A small sample service for ``changenote demo``: a docs site whose /search is slow.

Before the demo "deploys" its change, /search runs one database query per result
(an N+1 pattern: 12 calls, ~30 ms); after, it batches them (1 call, ~3 ms). It
reports the database call count in ``Server-Timing`` and its cache state in
``X-Cache``, as a well-instrumented service would.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

QUERY_SECONDS = 0.0025
RESULTS = 12

SEARCH_BEFORE = '''"""Search the docs: one query per result (the slow version)."""


def search(db, q):
    ids = db.execute("SELECT id FROM pages WHERE body MATCH ?", (q,)).fetchall()
    return [db.execute("SELECT title FROM pages WHERE id = ?", i).fetchone() for i in ids]
'''

SEARCH_AFTER = '''"""Search the docs: one batched query (the fast version)."""


def search(db, q):
    return db.execute(
        "SELECT title FROM pages WHERE id IN (SELECT id FROM pages WHERE body MATCH ?)", (q,)
    ).fetchall()
'''


class DemoService:
    """The sample service on a free loopback port, served from a background thread."""

    def __init__(self) -> None:
        self.batched = False
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per response and no Nagle delay: without these, delayed ACKs
            # add ~40 ms to every keep-alive response and swamp what we measure.
            wbufsize = 64 * 1024
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/health":
                    self._send(200, {"ok": True}, db_calls=0)
                elif url.path == "/search":
                    q = parse_qs(url.query).get("q", [""])[0]
                    calls = 1 if service.batched else RESULTS
                    time.sleep(QUERY_SECONDS * (1 if service.batched else RESULTS))
                    hits = [f"{q} guide part {i}" for i in range(RESULTS)]
                    self._send(200, {"q": q, "results": hits}, db_calls=calls)
                else:
                    self._send(404, {"error": "not found"}, db_calls=0)

            def _send(self, status: int, body: object, db_calls: int) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Cache", "MISS")
                self.send_header("Server-Timing", f'db;desc="{db_calls}"')
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> DemoService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
