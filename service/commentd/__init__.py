"""commentd: a self-hosted comment service for static blogs.

The package is layered; imports point one way (tests/unit/test_layers.py enforces it):

- `web` (the only package that imports Flask) and `ops` (command line, server, migrations)
- `notify` (outbox, emails, webhooks, signed links) and `portability` (importing and
  exporting comments), beside each other
- `comments` (the comment's life),
  `spam` (the layers that judge a submission)
- `config`, `models`, `db`, `group_commit`, `errors`, `keys`: the leaves

`create_app()` is the one way to build the WSGI application.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from commentd.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The WSGI application on a migrated database; `Settings.from_env()` when none is given.

    Imported late, so that `import commentd.spam` (say) does not load Flask.
    """
    from commentd.web.app import create_app as build

    return build(settings)
