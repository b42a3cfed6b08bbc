"""rendering.py: Markdown to safe HTML, and avatars; XSS payloads included."""

from __future__ import annotations

import sys
import threading
from html.parser import HTMLParser
from xml.etree import ElementTree

import mdurl._decode
import mdurl._encode
import pytest

from commentd.comments import rendering
from commentd.comments.rendering import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, identicon_svg, render_body

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<a href='javascript:alert(1)'>x</a>",
    '<svg onload="alert(1)">',
    "<iframe src=//evil.example></iframe>",
    '[x](http://a.example "onmouseover=alert(1)")',
    "<style>body{display:none}</style>",
    "`<script>` in code is fine",
    "```\n<script>alert(1)</script>\n```",
    '![x](http://a.example/i.png" onerror="alert(1))',
]


class TagCollector(HTMLParser):
    """Every (tag, attributes) the browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = TagCollector()
    collector.feed(html)
    return collector.elements


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_payload_survives_as_markup(payload: str) -> None:
    for tag, attributes in elements(render_body(payload)):
        assert tag in ALLOWED_TAGS
        assert set(attributes) <= ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}
        href = (attributes.get("href") or "https:").lower()
        assert href.startswith(("http:", "https:", "mailto:"))


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("Pigeon *pose*", "<p>Pigeon <em>pose</em></p>"),
        ("**strong** and `code`", "<p><strong>strong</strong> and <code>code</code></p>"),
        ("line one\nline two", "<p>line one<br>\nline two</p>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>'),
        ("<b>bold?</b>", "<p>&lt;b&gt;bold?&lt;/b&gt;</p>"),
        ("# not a heading", "<p># not a heading</p>"),
        (
            "see https://dana.example/x",
            '<p>see <a href="https://dana.example/x" rel="nofollow ugc noopener">'
            "https://dana.example/x</a></p>",
        ),
        (
            "[my site](https://dana.example)",
            '<p><a href="https://dana.example" rel="nofollow ugc noopener">my site</a></p>',
        ),
        (
            "![photo](https://dana.example/p.png)",
            '<p>!<a href="https://dana.example/p.png" rel="nofollow ugc noopener">photo</a></p>',
        ),
    ],
)
def test_markdown_renders_to_the_small_safe_set(text: str, html: str) -> None:
    assert render_body(text) == html


def test_every_link_is_marked_nofollow_ugc_noopener() -> None:
    html = render_body("[a](https://a.example) https://b.example <https://c.example>")

    assert html.count("<a ") == 3
    assert html.count('rel="nofollow ugc noopener"') == 3


def test_identicons_are_stable_and_differ_between_keys() -> None:
    first, again, other = identicon_svg("abc"), identicon_svg("abc"), identicon_svg("abd")

    assert first == again
    assert first != other
    assert first.startswith("<svg ") and "<script" not in first


def test_identicons_are_symmetric_patterns_of_rounded_cells_never_a_sparse_glyph() -> None:
    """Safe SVG (four element names, numeric attributes), mirrored left to right, and 6 to 10
    of the 15 free cells drawn: a pattern on a disc, not a letter such as a blue "T"."""
    for n in range(300):
        svg = identicon_svg(f"commenter-{n}")
        root = ElementTree.fromstring(svg)
        tags = {element.tag.rsplit("}", 1)[-1] for element in root.iter()}
        assert tags <= {"svg", "circle", "g", "rect"}, svg
        assert len(svg) < 1600
        cells = {
            (round(float(r.get("x", "0")), 2), round(float(r.get("y", "0")), 2), fill)
            for g in root.findall("{http://www.w3.org/2000/svg}g")
            for fill in [g.get("fill")]
            for r in g
        }
        mirrored = {(round(10 - 1.3 - x, 2), y, fill) for x, y, fill in cells}
        assert cells == mirrored, svg
        free = {(x, y) for x, y, _ in cells if x <= 5 - 0.65}
        assert 6 <= len(free) <= 10, svg


# Bodies that go through every rule list and both of mdurl's tables: links of every kind,
# emphasis, lists, quotes and code.
CONCURRENT_BODIES = [
    "Pigeon pose!",
    "see https://example.com/a?b=c&d=%zz and <https://example.org/ü>",
    "[docs](http://example.net/path with space) and *emphasis* and **strong**",
    "> quoted\n\n- one\n- two\n\n1. first\n\n`code` and www.example.com",
    "mail me at dana@example.com, or [here](mailto:dana@example.com)",
    "```\nfenced <b>code</b>\n```\nthen a line\nbreak",
]


def forget_first_use_state() -> None:
    """Put markdown-it and mdurl back as a new worker finds them: rule lists not compiled yet,
    percent-encoding tables not built (both are filled on first use)."""
    markdown = rendering._markdown
    rulers = (markdown.core.ruler, markdown.block.ruler, markdown.inline.ruler)
    for ruler in (*rulers, markdown.inline.ruler2):
        ruler.__cache__ = None
    mdurl._encode.encode_cache.clear()
    mdurl._decode.decode_cache.clear()


def render_at_once(bodies: list[str]) -> list[str | BaseException]:
    """Each of `bodies` rendered by its own thread, all released at the same moment: what each
    got back, or what it raised."""
    start = threading.Barrier(len(bodies))
    results: list[str | BaseException] = [""] * len(bodies)

    def render(n: int) -> None:
        start.wait()
        try:
            results[n] = render_body(bodies[n])
        except Exception as error:  # what the race raises is the finding
            results[n] = error

    workers = [threading.Thread(target=render, args=(n,)) for n in range(len(bodies))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def test_threads_rendering_at_once_in_a_new_worker_each_get_their_whole_comment() -> None:
    # CI once refused "Pigeon pose!" as empty (422 "Please write a comment."): the first posts
    # to a new worker rendered at once and one saw markdown-it's half-built rule lists.
    expected = {body: render_body(body) for body in CONCURRENT_BODIES}
    bodies = CONCURRENT_BODIES * 4
    failures: list[str] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # a thread switch at nearly every bytecode: races show
    try:
        for _round in range(25):
            forget_first_use_state()
            results = render_at_once(bodies)
            failures += [
                f"{body!r} -> {result!r}"
                for body, result in zip(bodies, results, strict=True)
                if result != expected[body]
            ]
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
