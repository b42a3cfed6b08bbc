"""readers/remark42.py: Remark42 backups, plain and gzipped, from the samples in
tests/fixtures/import/remark42/ and from lines written here the way Remark42's exporter
writes them."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commentd.models import CommentStatus
from commentd.portability.readers import READERS
from commentd.portability.readers.remark42 import read
from commentd.portability.records import ImportFileError, Markup, NoProgress, Skip, SourceComment

SAMPLES = Path(__file__).parents[2] / "fixtures" / "import" / "remark42"
PLAIN = SAMPLES / "sample.jsonl"
GZIPPED = SAMPLES / "backup-blog-20240420.gz"
META = '{"version":1,"users":[],"posts":[]}'
GLUTE = "5f0c6a8e-1d2b-4c3a-9e4f-0a1b2c3d4e0"  # + 1..9: the glute page's comments
BOOKS = "6a1d7b9f-2e3c-4d4b-8f50-1b2c3d4e5f1"  # + 0..5: the 读书 page's


class RecordedProgress:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.starts: list[tuple[int | None, str]] = []
        self.done = 0

    def start(self, total: int | None, unit: str) -> None:
        self.starts.append((total, unit))

    def advance(self, amount: int) -> None:
        self.done += amount


def read_all(path: Path) -> dict[str, SourceComment]:
    return {c.source_id: c for c in read(path, NoProgress())}


def comment_line(**fields: object) -> str:
    """A comment line as Remark42 writes it, with these fields changed."""
    comment: dict[str, object] = {
        "id": "c1",
        "pid": "",
        "text": "<p>hi</p>\n",
        "orig": "hi",
        "user": {"name": "Dana", "id": "github_1", "picture": "", "ip": "ab" * 20, "admin": False},
        "locator": {"site": "blog", "url": "https://blog.example/p/"},
        "score": 0,
        "vote": 0,
        "time": "2024-03-29T08:13:20Z",
    }
    comment.update(fields)
    return json.dumps(comment, ensure_ascii=False)


def backup(tmp_path: Path, *lines: str, name: str = "backup.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def failure(path: Path) -> ImportFileError:
    with pytest.raises(ImportFileError) as caught:
        list(read(path, NoProgress()))
    return caught.value


def test_it_is_the_reader_of_import_remark42() -> None:
    assert READERS["remark42"] is read


def test_the_sample_gives_every_comment_line_in_file_order() -> None:
    comments = list(read(PLAIN, NoProgress()))
    assert len(comments) == 17
    assert [c.source_id for c in comments[:9]] == [f"{GLUTE}{i}" for i in range(1, 10)]
    assert [c.record for c in comments[:2]] == ["line 2", "line 3"]  # line 1 is the meta


def test_plain_and_gzipped_give_the_same_comments() -> None:
    assert GZIPPED.read_bytes()[:2] == b"\x1f\x8b"
    assert list(read(GZIPPED, NoProgress())) == list(read(PLAIN, NoProgress()))


def test_gzip_is_recognised_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    disguised = tmp_path / "backup.json"
    disguised.write_bytes(GZIPPED.read_bytes())
    plain_named_gz = tmp_path / "backup.gz"
    plain_named_gz.write_bytes(PLAIN.read_bytes())
    assert len(list(read(disguised, NoProgress()))) == 17
    assert len(list(read(plain_named_gz, NoProgress()))) == 17


@pytest.mark.parametrize("sample", [PLAIN, GZIPPED])
def test_progress_counts_the_bytes_of_the_file_as_stored(sample: Path) -> None:
    progress = RecordedProgress()
    list(read(sample, progress))
    assert progress.starts == [(sample.stat().st_size, "B")]
    assert progress.done == sample.stat().st_size


def test_fields_dates_and_markdown_from_orig() -> None:
    dana = read_all(PLAIN)[f"{GLUTE}1"]
    assert dana.parent_id is None
    assert dana.page == "https://blog.example/2024/03/glute/"
    assert (dana.name, dana.email, dana.website, dana.ip) == (
        "Dana",
        "dana@example.com",
        None,
        None,
    )
    assert (dana.text, dana.markup) == (
        "Great read! My *left* glute med was weak too.",
        Markup.MARKDOWN,
    )
    assert dana.created_at == datetime(2024, 3, 29, 13, 13, 20, 250000, tzinfo=UTC)  # was -05:00
    assert dana.status is CommentStatus.APPROVED and dana.skip is None and not dana.closed


def test_times_in_any_offset_and_with_nanoseconds_become_utc() -> None:
    comments = read_all(PLAIN)
    assert comments[f"{GLUTE}2"].created_at == datetime(2024, 3, 29, 13, 30, tzinfo=UTC)  # +05:30
    assert comments[f"{GLUTE}3"].created_at == datetime(2024, 3, 29, 14, 2, 11, 123456, tzinfo=UTC)
    assert comments[f"{GLUTE}4"].created_at == datetime(2024, 3, 30, 0, 0, tzinfo=UTC)  # +09:00
    for comment in comments.values():
        assert comment.created_at.utcoffset() is not None
        assert comment.created_at.tzinfo is UTC


def test_a_chain_of_replies_five_deep() -> None:
    comments = read_all(PLAIN)
    chain = [comments[f"{GLUTE}{i}"] for i in range(1, 6)]
    assert [c.name for c in chain] == ["Dana", "Ravi", "Dana", "Lee", "Kim"]
    assert [c.parent_id for c in chain] == [None] + [f"{GLUTE}{i}" for i in range(1, 5)]


def test_emails_come_from_the_meta_s_user_details() -> None:
    comments = read_all(PLAIN)
    assert comments[f"{BOOKS}0"].email == "wang@example.cn"
    assert comments[f"{GLUTE}2"].email == ""  # Ravi's details have no email
    assert comments[f"{GLUTE}4"].email == ""  # Lee is not in the meta


def test_a_comment_remark42_imported_has_only_html() -> None:
    (disqus,) = [c for c in read_all(PLAIN).values() if c.name == "Disqus Dan"]
    assert disqus.markup is Markup.HTML
    assert disqus.text.startswith("<p>Old Disqus comment with <b>bold</b> &amp; an <a href=")


def test_hostile_markdown_is_handed_on_as_typed() -> None:
    mallory = read_all(PLAIN)[f"{GLUTE}6"]
    assert mallory.markup is Markup.MARKDOWN
    assert "<script>alert('x')</script>" in mallory.text
    assert "javascript:alert(1)" in mallory.text


def test_deleted_comments_are_skipped_and_their_replies_keep_their_parent() -> None:
    comments = read_all(PLAIN)
    assert [cid for cid, c in comments.items() if c.skip is not None] == [
        f"{GLUTE}7",
        f"{GLUTE}9",
    ]
    assert comments[f"{GLUTE}7"].skip is Skip.DELETED
    assert comments[f"{GLUTE}9"].name == "deleted"  # a hard delete clears the user too
    assert comments[f"{GLUTE}8"].parent_id == f"{GLUTE}7"
    assert comments[f"{BOOKS}4"].parent_id == f"{BOOKS[:-1]}99"  # not in the file at all
    assert f"{BOOKS[:-1]}99" not in comments


def test_a_blocked_user_s_comment_waits_and_nothing_else_does() -> None:
    comments = read_all(PLAIN)
    pending = [cid for cid, c in comments.items() if c.status is CommentStatus.PENDING]
    assert pending == [f"{BOOKS}5"]


def test_read_only_pages_are_closed() -> None:
    closed = {c.page for c in read_all(PLAIN).values() if c.closed}
    assert closed == {"https://blog.example/about"}


def test_unicode_names_texts_and_pages() -> None:
    comments = read_all(PLAIN)
    assert comments[f"{BOOKS}0"].name == "王小明"
    assert comments[f"{BOOKS}0"].text == "读书使人充实 📚"
    assert comments[f"{BOOKS}0"].page.startswith("https://blog.example/blog/%E8%AF%BB%E4%B9%A6/?")
    assert comments[f"{BOOKS}1"].name == "سارة"
    assert comments[f"{BOOKS}2"].name == "Zoe\u0308"
    assert comments[f"{BOOKS}5"].name == "Troll 🧌"


def test_version_0_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    path = backup(tmp_path, '{"version":0}', "", comment_line(), "  ")
    (comment,) = read(path, NoProgress())
    assert comment.text == "hi"


def test_empty_orig_falls_back_to_text_as_html(tmp_path: Path) -> None:
    path = backup(tmp_path, META, comment_line(orig=""), comment_line(id="c2", orig=None))
    assert [(c.text, c.markup) for c in read(path, NoProgress())] == [
        ("<p>hi</p>\n", Markup.HTML),
        ("<p>hi</p>\n", Markup.HTML),
    ]


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    path = backup(tmp_path, META, comment_line(), '{"id": "c2", "pid": ', comment_line(id="c3"))
    comments = read(path, NoProgress())
    assert next(comments).source_id == "c1"
    with pytest.raises(ImportFileError) as caught:
        next(comments)
    assert caught.value.place == "line 3"
    assert "not JSON" in caught.value.message


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (comment_line(id=""), 'empty "id"'),
        (comment_line(id=7), '"id" is not a string'),
        (comment_line(locator={"site": "blog"}), '"url" is not a string'),
        (comment_line(user="Dana"), '"user" is not an object'),
        (comment_line(time="yesterday"), "not an RFC 3339 time"),
        (comment_line(time="2024-03-29T08:13:20"), "no time zone"),
        (comment_line(time=None), '"time" is not a string'),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_a_comment_line_remark42_would_not_write(tmp_path: Path, line: str, said: str) -> None:
    error = failure(backup(tmp_path, META, line))
    assert error.place == "line 2"
    assert said in error.message


def test_a_line_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_bytes(META.encode() + b'\n{"id": "\xff"}\n')
    error = failure(path)
    assert error.place == "line 2"
    assert "not UTF-8" in error.message


@pytest.mark.parametrize(
    ("first", "said"),
    [
        ('{"version":2,"users":[],"posts":[]}', "version 2"),
        ('{"users":[],"posts":[]}', 'no "version"'),
        ('{"version":1,"users":{},"posts":[]}', '"users" is not a list'),
        ("<?xml version='1.0'?>", "not JSON"),
    ],
)
def test_a_first_line_that_is_not_remark42_s_meta(tmp_path: Path, first: str, said: str) -> None:
    error = failure(backup(tmp_path, first, comment_line()))
    assert error.place == "line 1"
    assert said in error.message


def test_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.gz").touch()
    assert failure(tmp_path / "empty.gz").place == "line 1"
    (tmp_path / "empty.jsonl.gz").write_bytes(gzip.compress(b""))
    assert "empty" in failure(tmp_path / "empty.jsonl.gz").message


def test_a_cut_gzip_file_is_an_error_not_a_shorter_import(tmp_path: Path) -> None:
    whole = GZIPPED.read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole[: len(whole) - 40])
    comments = []
    with pytest.raises(ImportFileError) as caught:
        comments.extend(read(cut, NoProgress()))
    assert caught.value.place.startswith("line ")
    assert "cut short" in caught.value.message
    assert len(comments) < 17


def test_a_damaged_gzip_file(tmp_path: Path) -> None:
    whole = bytearray(GZIPPED.read_bytes())
    whole[len(whole) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(bytes(whole))
    assert failure(damaged).place.startswith("line ")  # garbled JSON, or a failed check


def test_a_gzip_file_whose_check_fails(tmp_path: Path) -> None:
    whole = bytearray(GZIPPED.read_bytes())
    whole[-8] ^= 0xFF  # the CRC-32 of the trailer
    damaged = tmp_path / "crc.gz"
    damaged.write_bytes(bytes(whole))
    error = failure(damaged)
    assert error.place == "line 19"  # after the 18 lines, reading on
    assert "damaged" in error.message


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read(tmp_path / "nope.gz", NoProgress()))
