"""The two browser widgets as the service serves them: each one script, joined from static/.

`embed.js` and `moderation.js` share their helpers (`static/src/common.js`) and one stylesheet
(`static/widgets.css`), yet a blog page still includes a single `<script src=…/embed.js>`: the
service joins the pieces itself, with no build step and no tool. `GET /embed.js` answers

    (function () {
    "use strict";
    var WIDGET_CSS = "<widgets.css: its shared part and embed.js's, compacted>";
    var WIDGET_I18N = {"en": {<i18n/catalogues/en.json>}, "languages": {"ar": "<version>", …}, …};
    <static/src/common.js>
    <static/embed.js>
    })();

and likewise for `moderation.js` (which has no WIDGET_I18N: the author's console is English).
WIDGET_I18N (`i18n.widget_data()`) is embed.js's one source of English words and the list of
the other languages; the widget fetches a page's other language from `GET /api/i18n/<name>.json`
(`catalogue_response`), only when the page is in one.

The widget adds WIDGET_CSS to the page as one `<style>`, as it always did, so an English page
makes no other request and its Content-Security-Policy needs nothing new.
The files in static/ are the source: joined when first asked for, kept, and joined again when
one of them changes on disk (edit, reload).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from flask import Response, request

from commentd import i18n
from commentd.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
WIDGETS = ("embed.js", "moderation.js")
MAX_AGE_SECONDS = 300
CATALOGUE_MAX_AGE_SECONDS = 365 * 86400  # the URL names the catalogue's version
# A line of widgets.css that starts a widget's own part: "/* @widget embed.js: … */".
WIDGET_MARKER = re.compile(r"^/\* @widget ([\w.-]+?):?\s.*?\*/$", re.MULTILINE)


@dataclass(frozen=True)
class WidgetScript:
    """One widget as served: `body`, its JavaScript in UTF-8; `etag`, a strong validator (a
    hash of the body); `modified_at`, when the newest of its sources changed (aware UTC)."""

    body: bytes
    etag: str
    modified_at: datetime


def compact_css(css: str) -> str:
    """The same rules without comments and layout whitespace (a few kB less in every widget).

    Meant for widgets.css, which holds no strings or url() values, where this would be unsafe.
    A space before a colon stays (`.commentd :focus-visible` is a descendant selector).
    """
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    css = re.sub(r"\s+", " ", css)
    css = re.sub(r" ?([{};,>]) ?", r"\1", css)
    return css.replace(": ", ":").replace(";}", "}").strip()


def stylesheet_for(widget: str, css: str) -> str:
    """The part of widgets.css that `widget` (e.g. "embed.js") needs, compacted: the part above
    the first `/* @widget … */` line (shared by both) and the part under the widget's own.

    Raises:
        KeyError: no part of `css` is marked for `widget`.
    """
    shared, *marked = WIDGET_MARKER.split(css)
    parts = dict(zip(marked[::2], marked[1::2], strict=True))
    return compact_css(shared + parts[widget])


def assemble(widget: str, static_dir: Path = STATIC_DIR) -> WidgetScript:
    """Joins src/common.js, the widget's part of widgets.css and the widget's own file.

    Raises:
        KeyError: `widget` is not one of WIDGETS (or widgets.css has no part for it).
        OSError: a source file cannot be read.
    """
    if widget not in WIDGETS:
        raise KeyError(widget)
    sources = _sources(widget, static_dir)
    common, css, own = (path.read_text(encoding="utf-8") for path in sources)
    words = ""
    if widget == "embed.js":
        words = f"var WIDGET_I18N = {json.dumps(i18n.widget_data(), ensure_ascii=False)};\n"
    text = (
        f"/* commentd {widget}: static/src/common.js, static/{widget} and widgets.css, joined. */\n"
        '(function () {\n"use strict";\n'
        f"var WIDGET_CSS = {json.dumps(stylesheet_for(widget, css))};\n"
        f"{words}{common}\n{own}}})();\n"
    )
    body = text.encode("utf-8")
    newest = max(path.stat().st_mtime for path in sources)
    return WidgetScript(
        body=body,
        etag=hashlib.sha256(body).hexdigest()[:32],
        modified_at=datetime.fromtimestamp(int(newest), UTC),
    )


def widget_script(widget: str, static_dir: Path = STATIC_DIR) -> WidgetScript:
    """The widget as served, joined once per version of its sources (checked by their
    modification times and sizes: three stat() calls).

    Raises:
        KeyError: `widget` is not one of WIDGETS.
        OSError: a source file is missing or cannot be read.
    """
    if widget not in WIDGETS:
        raise KeyError(widget)
    versions = tuple(
        (stat.st_mtime_ns, stat.st_size)
        for stat in (path.stat() for path in _sources(widget, static_dir))
    )
    return _assembled(widget, static_dir, versions)


def widget_response(widget: str) -> Response:
    """`GET /embed.js` or `/moderation.js`: the script, readable from any origin, cached by
    browsers and CDNs for 5 minutes, with an ETag (a matching If-None-Match gets a 304) and
    byte ranges.

    Raises:
        KeyError: `widget` is not one of WIDGETS.
    """
    script = widget_script(widget)
    response = Response(script.body, mimetype="text/javascript")
    response.headers["Content-Disposition"] = f"inline; filename={widget}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.set_etag(script.etag)
    response.last_modified = script.modified_at
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE_SECONDS
    response.expires = datetime.fromtimestamp(int(time.time()) + MAX_AGE_SECONDS, UTC)
    response.make_conditional(request, accept_ranges=True, complete_length=len(script.body))
    return response


def catalogue_response(name: str) -> Response:
    """`GET /api/i18n/<name>.json`: one language's words for embed.js (`i18n.catalogue_json`),
    readable from any origin, with its version as a strong ETag (a matching If-None-Match gets
    a 304). Asked with `?v=` its current version (as embed.js asks), cached for a year
    (`immutable`); otherwise for 5 minutes.

    Raises:
        NotFound: `name` is not exactly the name of a catalogue (`de`, `pt-BR`, `zh-Hant`).
    """
    if name not in i18n.languages():
        raise NotFound(
            f"There is no catalogue {name[:40]!r}; the languages are listed in the docs."
        )
    version = i18n.version(name)
    response = Response(i18n.catalogue_json(name), mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Content-Language"] = name
    response.set_etag(version)
    response.cache_control.public = True
    if request.args.get("v") == version:
        response.cache_control.max_age = CATALOGUE_MAX_AGE_SECONDS
        response.cache_control.immutable = True
    else:
        response.cache_control.max_age = MAX_AGE_SECONDS
    response.make_conditional(request)
    return response


def _sources(widget: str, static_dir: Path) -> tuple[Path, Path, Path]:
    return static_dir / "src" / "common.js", static_dir / "widgets.css", static_dir / widget


@lru_cache(maxsize=8)
def _assembled(
    widget: str, static_dir: Path, versions: tuple[tuple[int, int], ...]
) -> WidgetScript:
    del versions  # only part of the cache key
    return assemble(widget, static_dir)
