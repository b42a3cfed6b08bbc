"""Running a comparison app (the ceiling, the posting floor) exactly as `commentd serve` runs."""

from __future__ import annotations

import argparse
from typing import Any

from flask import Flask

from commentd.config import Settings
from commentd.ops.server import CommentdServer, gunicorn_options


def serve_like_commentd(
    app: Flask, settings: Settings, description: str | None, **options: Any
) -> None:
    """Serve `app` at --host/--port on commentd's gunicorn settings for `settings`: the same
    COMMENTD_* environment as the server it is compared with gives the same worker plan."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    CommentdServer(app, gunicorn_options(settings, args.host, args.port) | options).run()
