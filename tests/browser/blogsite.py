"""The example blog and the service as the browser tests see them (plain HTTP, no browser)."""

from __future__ import annotations

from typing import Any

import requests

ARTICLE = "/posts/3-minute-muscles-gluteus-medius.html"
ARTICLE_SLUG = "3-minute-muscles-gluteus-medius"


class Site:
    """The blog's pages and the service's API, as a test sees them."""

    def __init__(self, blog: Any, service_url: str, admin_token: str) -> None:
        self.blog = blog.origin
        self.service = service_url
        self.moderator = {"Authorization": f"Bearer {admin_token}"}

    def page_url(self, path: str) -> str:
        return self.blog + path

    def post(self, slug: str = ARTICLE_SLUG, **fields: Any) -> dict[str, Any]:
        """A comment sent the way a script would (no Origin header); returns the 201 JSON."""
        fields = {"name": "Dana", "email": "dana@example.com", "body": "Pigeon pose!"} | fields
        response = requests.post(
            f"{self.service}/api/posts/{slug}/comments", json=fields, timeout=10
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def moderate(self, comment_id: int, action: str) -> None:
        url = f"{self.service}/api/moderation/comments/{comment_id}/{action}"
        assert requests.post(url, headers=self.moderator, timeout=10).status_code == 200

    def queue(self, status: str = "pending") -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.service}/api/moderation/comments",
            params={"status": status, "limit": 100},
            headers=self.moderator,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return list(response.json()["comments"])

    def comment(self, comment_id: int) -> requests.Response:
        url = f"{self.service}/api/moderation/comments/{comment_id}"
        return requests.get(url, headers=self.moderator, timeout=10)
