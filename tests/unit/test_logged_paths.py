"""What the access log keeps of a path: token-shaped segments are replaced."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api/posts/a.b/comments", "/api/posts/a.b/comments"),
        ("/blog/2024/post-about-things", "/blog/2024/post-about-things"),
        (
            "/x/WzEsImEiXQ.awxtJQ.6Ilf40r0nx5fryZaM7NRecKNFbU",  # itsdangerous-shaped
            "/x/<elided>",
        ),
        ("/x/WzEsImEiXQ.6Ilf40r0nx5fryZaM7NRecKNFbU/y", "/x/<elided>/y"),
    ],
)
def test_a_path_no_route_has_loses_only_its_token_shaped_segments(path: str, logged: str) -> None:
    from commentd.web.logs import loggable_path

    assert loggable_path(path, None, None) == logged


@pytest.mark.parametrize(
    ("message", "logged"),
    [
        (
            "Client disconnected while serving /email/confirm/"
            "WzEsImEiXQ.awxtJQ.6Ilf40r0nx5fryZaM7NRecKNFbU",
            "Client disconnected while serving /email/confirm/<elided>",
        ),
        (
            "Exception while serving /x/WzEsImEiXQ.6Ilf40r0nx5fryZaM7NRecKNFbU?a=1",
            "Exception while serving /x/<elided>?a=1",
        ),
        ("database: sqlite:////srv/commentd.db", "database: sqlite:////srv/commentd.db"),
    ],
)
def test_lines_logged_by_others_lose_their_token_shaped_words(message: str, logged: str) -> None:
    import json
    import logging

    from commentd.web.logs import JsonFormatter

    record = logging.LogRecord("waitress", logging.INFO, __file__, 1, message, None, None)
    assert json.loads(JsonFormatter().format(record))["msg"] == logged
