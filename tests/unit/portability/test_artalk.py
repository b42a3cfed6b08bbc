"""readers/artalk.py: Artrans files as Artalk and Artransfer's converters write them, read from
real files: the samples in tests/fixtures/import/artalk/ and small files written per test."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commentd.models import CommentStatus
from commentd.portability.readers import READERS, artalk
from commentd.portability.readers.jsonfiles import parse_date
from commentd.portability.records import (
    ImportFileError,
    Markup,
    NoProgress,
    SourceComment,
)

SAMPLES = Path(__file__).parents[2] / "fixtures" / "import" / "artalk"
ARTALK = SAMPLES / "sample-artalk.json"
TWIKOO = SAMPLES / "sample-twikoo.json"


def read(path: Path) -> list[SourceComment]:
    return list(artalk.read(path, NoProgress()))


def failure(path: Path) -> ImportFileError:
    with pytest.raises(ImportFileError) as caught:
        read(path)
    return caught.value


def artran(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": "1",
        "rid": "0",
        "content": "Hello **Artalk**",
        "ua": "Artalk/2.9",
        "ip": "233.233.233.233",
        "is_collapsed": "false",
        "is_pending": "false",
        "is_pinned": "false",
        "vote_up": "0",
        "vote_down": "0",
        "created_at": "2021-10-28 20:50:15 +0800",
        "updated_at": "2021-10-28 20:50:15 +0800",
        "nick": "qwqcode",
        "email": "qwqcode@github.com",
        "link": "https://qwqaq.com",
        "badge_name": "",
        "badge_color": "",
        "page_key": "https://artalk.js.org/guide/transfer.html",
        "page_title": "Data Migration",
        "page_admin_only": "false",
        "site_name": "Artalk",
        "site_urls": "https://artalk.js.org",
    }
    record.update(overrides)
    return record


def write(tmp_path: Path, records: object, name: str = "export.artrans") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def outcome(comment: SourceComment) -> str:
    return comment.skip.value if comment.skip else comment.status.value


def test_the_documented_artran_reads_field_by_field(tmp_path: Path) -> None:
    path = write(tmp_path, [artran()])

    assert read(path) == [
        SourceComment(
            source_id="1",
            parent_id=None,
            page="https://artalk.js.org/guide/transfer.html",
            name="qwqcode",
            email="qwqcode@github.com",
            website="https://qwqaq.com",
            text="Hello **Artalk**",
            markup=Markup.MARKDOWN,
            created_at=datetime(2021, 10, 28, 12, 50, 15, tzinfo=UTC),
            ip="233.233.233.233",
            record="record 1",
        )
    ]


@pytest.mark.parametrize("sample", [ARTALK, TWIKOO], ids=["artalk", "twikoo"])
def test_a_sample_gives_the_records_and_statuses_its_expected_file_names(sample: Path) -> None:
    expected = json.loads(sample.with_name(sample.stem + ".expected.json").read_text("utf-8"))

    comments = read(sample)

    assert len(comments) == expected["records"]
    # Empty texts are the importer's to skip: the reader hands them on with their status.
    assert sum(Counter(outcome(c) for c in comments).values()) == expected["records"]
    statuses = Counter(outcome(c) for c in comments if c.text.strip())
    assert statuses == Counter(expected["imported"])


def test_artalk_sample_threads_pages_dates_and_authors() -> None:
    comments = read(ARTALK)

    assert [c.parent_id for c in comments[:5]] == [None, "1", "2", "3", "4"]
    assert [c.name for c in comments[:5]] == ["Dana", "Ravi", "Dana", "Lee", "Mika"]
    assert comments[0].page == (
        "https://blog.example/2024/03/glute/?utm_source=feed&utm_medium=rss"
    )
    assert comments[7].page == "/blog/%E8%AF%BB%E4%B9%A6/"
    assert comments[0].created_at == datetime(2024, 3, 29, 9, 15, 2, tzinfo=UTC)  # +0800
    assert (comments[5].name, comments[5].email) == ("", "")
    assert (comments[7].name, comments[7].email) == ("王伟", "")
    assert [c.status for c in comments if c.page == "/about/"] == [
        CommentStatus.APPROVED,
        CommentStatus.PENDING,
        CommentStatus.APPROVED,
    ]
    assert comments[9].parent_id == "42"  # absent from the file: the importer's orphan


def test_twikoo_via_artransfer_reads_booleans_html_and_javascript_dates() -> None:
    comments = read(TWIKOO)

    assert comments[0].parent_id is None  # no "rid" at all
    assert comments[1].parent_id == comments[0].source_id
    assert {c.markup for c in comments} == {Markup.HTML}
    assert comments[2].created_at == datetime(2024, 3, 30, 0, 42, 3, 456000, tzinfo=UTC)
    assert comments[4].status == CommentStatus.PENDING  # is_pending: true (Twikoo's isSpam)
    assert comments[3].website == "javascript:alert(1)"  # kept: the importer decides
    assert comments[5].name == "王伟"


@pytest.mark.parametrize(
    ("content", "markup"),
    [
        ("<p>欢迎加入 Typecho 大家族</p>\n", Markup.HTML),
        ("<blockquote><p>quoted</p></blockquote>\n<p>reply</p>", Markup.HTML),
        ("<DIV class='x'>shouting</DIV>", Markup.HTML),
        ("Hello <b>bold</b> world", Markup.MARKDOWN),
        ("<b>bold</b> start", Markup.MARKDOWN),
        ("<p>opened, never closed", Markup.MARKDOWN),
        ("plain **markdown**", Markup.MARKDOWN),
    ],
)
def test_a_converters_html_blocks_are_read_as_html_all_else_as_markdown(
    tmp_path: Path, content: str, markup: Markup
) -> None:
    path = write(tmp_path, [artran(content=content)])

    assert read(path)[0].markup == markup


@pytest.mark.parametrize(
    ("overrides", "parent", "status", "closed"),
    [
        ({"rid": ""}, None, CommentStatus.APPROVED, False),
        ({"rid": 0, "is_pending": True}, None, CommentStatus.PENDING, False),
        ({"rid": "7", "is_pending": "1"}, "7", CommentStatus.PENDING, False),
        ({"rid": "1"}, None, CommentStatus.APPROVED, False),  # replies to itself
        ({"rid": None, "is_pending": "false", "page_admin_only": "true"}, None, "approved", True),
        ({"rid": 12, "is_pending": 0}, "12", CommentStatus.APPROVED, False),
    ],
)
def test_artalk_reads_any_json_value_as_its_text(
    tmp_path: Path, overrides: dict[str, object], parent: str | None, status: str, closed: bool
) -> None:
    path = write(tmp_path, [artran(**overrides)])

    comment = read(path)[0]

    assert (comment.parent_id, comment.status, comment.closed) == (parent, status, closed)


def test_an_old_artalk_1_date_field_is_read(tmp_path: Path) -> None:
    record = artran(date="2019-05-01 10:00:00")
    del record["created_at"]

    assert read(write(tmp_path, [record]))[0].created_at == datetime(2019, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2021-10-28 20:50:15 +0800", datetime(2021, 10, 28, 12, 50, 15, tzinfo=UTC)),
        ("2021-10-28 20:50:15 +0800 CST", datetime(2021, 10, 28, 12, 50, 15, tzinfo=UTC)),
        ("2021-10-28 20:50:15 +0800 +0800", datetime(2021, 10, 28, 12, 50, 15, tzinfo=UTC)),
        (
            "2022-04-24 20:22:46.123456789 -0700 PDT",
            datetime(2022, 4, 25, 3, 22, 46, 123456, tzinfo=UTC),
        ),
        ("2021-10-28T12:50:15.284Z", datetime(2021, 10, 28, 12, 50, 15, 284000, tzinfo=UTC)),
        ("2021-10-28T20:50:15+08:00", datetime(2021, 10, 28, 12, 50, 15, tzinfo=UTC)),
        ("2021-10-28 20:50:15", datetime(2021, 10, 28, 20, 50, 15, tzinfo=UTC)),
        ("2021-10-28 20:50:15 UTC", datetime(2021, 10, 28, 20, 50, 15, tzinfo=UTC)),
        ("2021-10-28", datetime(2021, 10, 28, tzinfo=UTC)),
        ("1612421386000", datetime(2021, 2, 4, 6, 49, 46, tzinfo=UTC)),
        ("1612421386", datetime(2021, 2, 4, 6, 49, 46, tzinfo=UTC)),
    ],
)
def test_the_dates_exporters_write_become_aware_utc(text: str, moment: datetime) -> None:
    assert parse_date(text, "record 1", "created_at") == moment


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2021-13-01 00:00:00", "2021-10-28 20:50:15 CST", "28/10/2021"]
)
def test_what_is_not_a_date_is_refused(text: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_date(text, "record 4", "created_at")

    assert caught.value.place == "record 4"
    assert caught.value.message == f"'created_at' is not a date: {text!r}"


def test_a_gzipped_artrans_reads_as_the_plain_one(tmp_path: Path) -> None:
    packed = tmp_path / "artrans.gz"
    packed.write_bytes(gzip.compress(ARTALK.read_bytes()))

    assert read(packed) == read(ARTALK)


def test_records_before_a_fault_are_read_before_it_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.artrans"
    path.write_text(
        json.dumps([artran(id="1"), artran(id="2")])[:-40], encoding="utf-8"
    )  # cut inside record 2
    comments = artalk.read(path, NoProgress())

    assert next(comments).source_id == "1"
    with pytest.raises(ImportFileError) as caught:
        next(comments)
    assert caught.value.place == "record 2"
    assert caught.value.message == "the JSON ends too early: the file is cut short"


@pytest.mark.parametrize(
    ("content", "place", "says"),
    [
        (b"", "byte 0", "the file is empty"),
        (b"<?xml version='1.0'?><rss></rss>", "byte 0", "this is XML"),
        (b'{"version": 1, "comments": []}', "byte 0", "use `commentd import commento`"),
        (b"[1, 2]", "record 1", "an Artrans record is a JSON object"),
        (
            json.dumps([artran()]).replace("}]", '} {"id": "2"}]').encode(),
            "record 2",
            "malformed JSON: parse error: after array element, I expect ',' or ']'",
        ),
    ],
    ids=["empty", "xml", "commento", "not-objects", "malformed"],
)
def test_a_file_that_is_not_artrans_is_refused_with_its_place(
    tmp_path: Path, content: bytes, place: str, says: str
) -> None:
    path = tmp_path / "file.json"
    path.write_bytes(content)

    error = failure(path)

    assert error.place == place
    assert says in error.message


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"id": ""}, "'id' is missing"),
        ({"page_key": "  "}, "'page_key' is missing"),
        ({"created_at": ""}, "'date' is missing"),
        ({"created_at": "soon"}, "'created_at' is not a date: 'soon'"),
        ({"nick": ["a", "b"]}, "'nick' is not a string"),
    ],
)
def test_a_record_without_what_it_needs_is_named_by_its_number(
    tmp_path: Path, overrides: dict[str, object], says: str
) -> None:
    path = write(tmp_path, [artran(), artran(**({"id": "2"} | overrides))])

    error = failure(path)

    assert (error.place, error.message) == ("record 2", says)


def test_artalk_is_registered_for_commentd_import() -> None:
    assert READERS["artalk"] is artalk.read


def test_a_fault_far_into_a_large_file_is_named_by_its_own_record(tmp_path: Path) -> None:
    records = [artran(id=str(n), content="word " * 40) for n in range(1, 2001)]
    text = json.dumps(records)
    path = tmp_path / "bad.artrans"
    path.write_text(text.replace('"id": "1500"', '"id" "1500"'), encoding="utf-8")

    error = failure(path)

    assert error.place == "record 1500"
    assert error.message.startswith("malformed JSON: parse error: object key and value")
