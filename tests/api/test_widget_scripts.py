"""How the service serves its two widgets: each one script joined from static/ (the shared
helpers, the widget's own file, and its part of the one stylesheet), with a stable ETag."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from commentd.web.widgets import (
    STATIC_DIR,
    WIDGETS,
    assemble,
    compact_css,
    stylesheet_for,
    widget_script,
)


def embedded_css(script: str) -> str:
    line = next(line for line in script.splitlines() if line.startswith("var WIDGET_CSS = "))
    css: str = json.loads(line.removeprefix("var WIDGET_CSS = ").removesuffix(";"))
    return css


@pytest.mark.parametrize("widget", WIDGETS)
def test_a_widget_is_one_script_with_the_shared_helpers_and_its_styles(
    client: FlaskClient, widget: str
) -> None:
    response = client.get(f"/{widget}")
    script = response.get_data(as_text=True)

    assert (response.status_code, response.mimetype) == (200, "text/javascript")
    common = (STATIC_DIR / "src" / "common.js").read_text(encoding="utf-8")
    own = (STATIC_DIR / widget).read_text(encoding="utf-8")
    # One function holds both files, so neither declares anything on the blog's page.
    assert script.index("(function () {") < script.index(common) < script.index(own)
    assert script.rstrip().endswith("})();")
    css = embedded_css(script)
    assert "--commentd-accent" in css  # the shared palette
    assert "/*" not in css and "\n" not in css
    # Each widget carries its own rules and not the other's.
    if widget == "embed.js":
        assert ".commentd-form{" in css and "commentd-mod-login" not in css
    else:
        assert ".commentd-mod-login{" in css and "commentd-form" not in css


@pytest.mark.parametrize("widget", WIDGETS)
def test_a_widget_keeps_its_etag_and_a_matching_request_gets_a_304(
    client: FlaskClient, widget: str
) -> None:
    first = client.get(f"/{widget}")
    again = client.get(f"/{widget}")
    assert first.headers["ETag"] == again.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=300"
    assert first.headers["Access-Control-Allow-Origin"] == "*"

    cached = client.get(f"/{widget}", headers={"If-None-Match": first.headers["ETag"]})

    assert (cached.status_code, cached.get_data()) == (304, b"")


def test_the_etag_is_the_content_s_and_an_edited_source_is_served_at_once(
    tmp_path: Path,
) -> None:
    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static)
    before = widget_script("embed.js", static)
    assert widget_script("embed.js", static) is before  # joined once per version
    assert before.etag == assemble("embed.js", STATIC_DIR).etag  # same files, same ETag

    css = static / "widgets.css"
    shared, marker, parts = css.read_text(encoding="utf-8").partition("/* @widget ")
    css.write_text(f"{shared}.commentd-new {{ color: red; }}\n{marker}{parts}", encoding="utf-8")
    after = widget_script("embed.js", static)

    assert after.etag != before.etag
    assert ".commentd-new{color:red}" in after.body.decode()
    assert widget_script("moderation.js", static).body.decode().count(".commentd-new") == 1


def test_only_the_two_widgets_are_joined() -> None:
    with pytest.raises(KeyError):
        widget_script("../config.py")
    with pytest.raises(KeyError):
        stylesheet_for("other.js", (STATIC_DIR / "widgets.css").read_text(encoding="utf-8"))


def test_compacting_keeps_every_rule_as_it_was() -> None:
    css = """/* a comment */
.commentd :focus-visible,
.commentd-field :focus {
  outline: 3px solid var(--_accent, #0969da);
}
@media (prefers-color-scheme: dark) {
  .commentd-item:target > .commentd-c { padding: calc(var(--_r) * .75) 0; }
}
"""
    assert compact_css(css) == (
        ".commentd :focus-visible,.commentd-field :focus"
        "{outline:3px solid var(--_accent,#0969da)}"
        "@media (prefers-color-scheme:dark)"
        "{.commentd-item:target>.commentd-c{padding:calc(var(--_r) * .75) 0}}"
    )
