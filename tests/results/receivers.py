"""Real HTTP receivers on 127.0.0.1 ports of the test's own, each failing its own way."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Serves POSTs on a free port: answers `statuses` in turn (then 200), sleeps `delay`
    seconds before answering, and keeps each request (headers, body); honours
    Idempotency-Key: a key seen before is acknowledged and not kept again."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.statuses, self.delay = list(statuses or []), delay
        self.requests: list[dict] = []  # every request received
        self.kept: dict[str, dict] = {}  # by Idempotency-Key: what a receiver that honours it keeps
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                request = {"headers": dict(self.headers), "body": body, "status": status}
                receiver.requests.append(request)
                if status == 200:
                    receiver.kept.setdefault(self.headers["Idempotency-Key"], json.loads(body))
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
