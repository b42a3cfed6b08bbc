"""The ceiling: a trivial Flask JSON endpoint on exactly the gunicorn settings of `commentd serve`.

Nothing a Flask service does per request can be cheaper than this on the same server, so the
benchmark reports every commentd figure as a fraction of it.
"""

from __future__ import annotations

import argparse

from flask import Flask, Response, jsonify

from service.config import Settings
from service.server import CommentdServer, gunicorn_options


def trivial_app() -> Flask:
    app = Flask(__name__)

    @app.get("/ping")
    def ping() -> Response:
        return jsonify(ok=True)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The same COMMENTD_* environment as the server it is compared with: the same worker plan.
    options = gunicorn_options(Settings.from_env(), args.host, args.port)
    CommentdServer(trivial_app(), options).run()


if __name__ == "__main__":
    main()
