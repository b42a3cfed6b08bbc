"""Serve the example blog on its own origin, pointing its pages at a commentd service.

The pages name the service as http://127.0.0.1:8080; with --comments-url they get another one,
so tests and the screenshot script can run the service on any free port. Standard library only.
"""

from __future__ import annotations

import argparse
import functools
import io
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

BLOG_DIR = Path(__file__).resolve().parent / "blog"
DEFAULT_COMMENTS_URL = "http://127.0.0.1:8080"


class BlogServer(ThreadingHTTPServer):
    comments_url = DEFAULT_COMMENTS_URL  # where the pages' scripts point; may change later

    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class BlogHandler(SimpleHTTPRequestHandler):
    """Static files, with the comments host in HTML pages replaced by the one in use."""

    server: BlogServer

    def send_head(self) -> io.BufferedIOBase | BinaryIO | None:
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        page = path.read_text(encoding="utf-8")
        body = page.replace(DEFAULT_COMMENTS_URL, self.server.comments_url).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests and screenshots run it in the background


def serve(port: int, comments_url: str, host: str = "127.0.0.1") -> BlogServer:
    """Start the blog server in a daemon thread (port 0: any free one); .shutdown() stops it."""
    server = BlogServer((host, port), functools.partial(BlogHandler, directory=str(BLOG_DIR)))
    server.comments_url = comments_url.rstrip("/")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--comments-url", default=DEFAULT_COMMENTS_URL)
    args = parser.parse_args()
    server = serve(args.port, args.comments_url)
    print(f"blog on {server.origin}/ using comments at {server.comments_url}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
