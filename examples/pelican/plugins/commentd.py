"""commentd for Pelican: an article's comments from `commentd export static`, for templates.

Jinja filters, given an article (or page):

- `article | commentd_thread`: the fragment `<COMMENTD_EXPORT>/posts/<slug>.html`, as commentd
  wrote it (names escaped, bodies sanitised), marked safe; "" when the post has none yet;
- `article | commentd_slug`: its `commentd_slug` metadata, else its URL without the outer
  slashes (what embed.js takes by default);
- `article | commentd_count`: its approved comments, from `<COMMENTD_EXPORT>/counts.json`.

Settings: COMMENTD_EXPORT (the export folder, default "comments" beside the working directory)
and COMMENTD_SERVICE (for templates: embed.js and the form come from there).
"""

import json
from pathlib import Path
from typing import Any

from markupsafe import Markup
from pelican import signals


def slug_of(content: Any) -> str:
    """The post's commentd slug (see the module's docstring)."""
    return str(getattr(content, "commentd_slug", None) or content.url).strip("/")


def add_filters(generator: Any) -> None:
    """Give the generator's Jinja environment the three filters."""
    export = Path(generator.settings.get("COMMENTD_EXPORT", "comments")).resolve()
    posts = export / "posts"

    def thread(content: Any) -> Markup:
        path = (posts / f"{slug_of(content)}.html").resolve()
        if not path.is_relative_to(posts) or not path.is_file():
            return Markup("")
        return Markup(path.read_text(encoding="utf-8"))

    def count(content: Any) -> int:
        counts_path = export / "counts.json"
        if not counts_path.is_file():
            return 0
        return int(json.loads(counts_path.read_text(encoding="utf-8")).get(slug_of(content), 0))

    generator.env.filters.update(
        commentd_thread=thread, commentd_slug=slug_of, commentd_count=count
    )


def register() -> None:
    """Pelican's plugin entry point."""
    signals.generator_init.connect(add_filters)
