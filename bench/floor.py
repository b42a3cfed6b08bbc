"""The posting floor: what the chosen stack alone costs per post, on `commentd serve`'s settings.

A POST to the same path that parses the JSON body, passes three of flask-limiter's limits
(client address, post, whole site: commentd's RateLimits, keys, storage and strategy, one hit
each) and inserts one row
with a prebuilt SQLAlchemy Core statement in its own transaction (as commentd's post path
does), on commentd's engine settings (SQLite's write turns and pragmas, PostgreSQL's pool):
nothing else. No validation, no form token, no spam layers, no Markdown, no notification, and
a table without indexes: a lower bound for any post on this stack. The benchmark reports
commentd's posting against it, as it reports reads against the trivial endpoint's ceiling.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, Response, g, jsonify, request
from sqlalchemy import DateTime, Engine, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from commentd.config import Settings
from commentd.db import make_engine, writer
from commentd.errors import RateLimited
from commentd.ops.server import shared_limits
from commentd.web.limits import RateLimits, limiter_config

from .serving import serve_like_commentd


class Base(DeclarativeBase):
    pass


class FloorComment(Base):
    __tablename__ = "floor_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def floor_app(settings: Settings, engine: Engine) -> Flask:
    app = Flask(__name__)
    # The three rate limits, not the flood interval (the benchmark turns it off for commentd
    # too, and with it on no sender could post twice in a row here).
    settings = replace(settings, min_post_interval=0)
    app.config.update(limiter_config(settings))
    limits = RateLimits(app, settings, "floor")  # "floor": the secret of the keyed hashes
    write_engine = writer(engine)
    insert = FloorComment.__table__.insert().returning(FloorComment.__table__.c.id)

    @app.post("/api/posts/<path:slug>/comments")
    def create_comment(slug: str) -> tuple[Response, int]:
        fields = json.loads(request.get_data())
        g.limit_post = limits.key("post", slug)
        try:
            limits.take((limits.address, limits.post, limits.site))
        except RateLimited:
            return jsonify(error="rate_limited"), 429
        row = {
            "slug": slug,
            "name": fields["name"],
            "email": fields["email"],
            "body": fields["body"],
            "created_at": datetime.now(UTC),
        }
        with write_engine.begin() as connection:
            new_id = connection.execute(insert, row).scalar_one()
        return jsonify(id=new_id, status="pending"), 201

    @app.get("/api/form-token")  # asked for by the benchmark's posting load, then ignored here
    def form_token() -> Response:
        return jsonify(form_token="unused")

    return app


def main() -> None:
    # memory:// counts as `commentd serve` counts it: in a file its processes share.
    settings = shared_limits(Settings.from_env(), Path(tempfile.mkdtemp(prefix="floor-")))
    engine = make_engine(settings.database_url)
    Base.metadata.create_all(engine)  # a throwaway table in the floor's own database
    engine.dispose()
    serve_like_commentd(
        floor_app(settings, engine),
        settings,
        __doc__,
        post_fork=lambda _server, _worker: engine.dispose(close=False),  # as commentd's serve
    )


if __name__ == "__main__":
    main()
