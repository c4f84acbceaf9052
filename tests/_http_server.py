"""A tiny local HTTP server for download tests: 127.0.0.1 only, a random free
port, files served from a dict, requests counted, optional broken transfers,
and ``Range: bytes=N-`` answered with 206 and a ``Content-Range`` (unless the
path is in ``no_ranges``, where the whole file comes back with 200, as from a
server without range support)."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    def __init__(self):
        self.files: dict[str, bytes] = {}     # URL path (no leading '/') -> body
        self.truncate_next: Counter = Counter()  # path -> how many responses to cut short
        self.no_length: set[str] = set()      # paths served without a Content-Length header
        self.slow: dict[str, float] = {}      # path -> seconds to wait between 4 KiB chunks
        self.no_ranges: set[str] = set()     # paths whose Range header is ignored (200)
        self.requests: Counter = Counter()
        self.ranges: list[tuple[str, str]] = []  # (path, Range header) of ranged requests
        self.sent: Counter = Counter()         # path -> body bytes written
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                path = self.path.lstrip("/").split("?")[0]
                server.requests[path] += 1
                body = server.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if m and path not in server.no_ranges:
                    server.ranges.append((path, self.headers["Range"]))
                    start = int(m[1])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                    body = body[start:]
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if path in server.no_length:
                    # HTTP/1.0-style: the body ends when the connection closes
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.truncate_next[path] > 0:
                    # announce the full length (if at all), send half, drop the connection
                    server.truncate_next[path] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    server.sent[path] += len(body) // 2
                    self.close_connection = True
                    return
                delay = server.slow.get(path)
                if delay:
                    try:
                        for i in range(0, len(body), 4096):
                            self.wfile.write(body[i:i + 4096])
                            self.wfile.flush()
                            time.sleep(delay)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client was killed mid-transfer
                    return
                self.wfile.write(body)
                server.sent[path] += len(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
