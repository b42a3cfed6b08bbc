"""The ceiling: a trivial Flask JSON endpoint on exactly the gunicorn settings of `commentd serve`.

Nothing a Flask service does per request can be cheaper than this on the same server, so the
benchmark reports every commentd figure as a fraction of it.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

from commentd.config import Settings

from .serving import serve_like_commentd


def trivial_app() -> Flask:
    app = Flask(__name__)

    @app.get("/ping")
    def ping() -> Response:
        return jsonify(ok=True)

    return app


def main() -> None:
    serve_like_commentd(trivial_app(), Settings.from_env(), __doc__)


if __name__ == "__main__":
    main()
