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
