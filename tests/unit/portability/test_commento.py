"""readers/commento.py: Commento's export and Comentario's (versions 1 and 3), read from real
files: the samples in tests/fixtures/import/commento/ and small files written per test."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commentd.models import CommentStatus
from commentd.portability.readers import READERS, commento
from commentd.portability.records import (
    ImportFileError,
    Markup,
    NoProgress,
    Skip,
    SourceComment,
)

SAMPLES = Path(__file__).parents[2] / "fixtures" / "import" / "commento"
COMMENTO = SAMPLES / "sample-commento.json"
COMENTARIO = SAMPLES / "sample-comentario.json"


def read(path: Path) -> list[SourceComment]:
    return list(commento.read(path, NoProgress()))


def failure(path: Path) -> ImportFileError:
    with pytest.raises(ImportFileError) as caught:
        read(path)
    return caught.value


def write(tmp_path: Path, document: object, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def v1_comment(**overrides: object) -> dict[str, object]:
    comment: dict[str, object] = {
        "commentHex": "c1",
        "domain": "blog.example",
        "url": "/p/",
        "commenterHex": "anonymous",
        "markdown": "Hi",
        "html": "",
        "parentHex": "root",
        "score": 0,
        "state": "approved",
        "creationDate": "2020-01-27T14:08:44.061525Z",
        "direction": 0,
        "deleted": False,
    }
    comment.update(overrides)
    return comment


def by_id(comments: list[SourceComment]) -> dict[str, SourceComment]:
    return {comment.source_id: comment for comment in comments}


def outcome(comment: SourceComment) -> str:
    return comment.skip.value if comment.skip else comment.status.value


@pytest.mark.parametrize("sample", [COMMENTO, COMENTARIO], ids=["commento", "comentario"])
def test_a_sample_gives_the_records_and_statuses_its_expected_file_names(sample: Path) -> None:
    expected = json.loads(sample.with_name(sample.stem + ".expected.json").read_text("utf-8"))

    comments = read(sample)

    assert len(comments) == expected["records"]
    assert Counter(outcome(c) for c in comments) == Counter(
        expected["imported"] | expected["skipped"]
    )


def test_commento_comments_get_their_commenters_listed_after_them_in_the_file() -> None:
    comments = read(COMMENTO)

    first = comments[0]
    assert first == SourceComment(
        source_id=first.source_id,
        parent_id=None,
        page="/2024/03/glute/",
        name="Dana",
        email="dana@example.org",
        website="https://dana.example",
        text="Great routine! The **side-lying clamshell** is the one I always skip 😅",
        markup=Markup.MARKDOWN,
        created_at=datetime(2024, 3, 29, 9, 15, 2, 123456, tzinfo=UTC),
        record="comment 1",
    )


def test_commento_replies_name_their_parent_and_root_means_top_level() -> None:
    comments = read(COMMENTO)

    chain = comments[:5]
    assert chain[0].parent_id is None
    assert [c.parent_id for c in chain[1:]] == [c.source_id for c in chain[:4]]
    assert [c.name for c in chain] == ["Dana", "Ravi", "Dana", "Lee", "Mika"]


def test_commento_states_and_deletions_map_to_statuses_and_skips() -> None:
    comments = read(COMMENTO)

    assert [outcome(c) for c in comments] == [
        *["approved"] * 6,
        "pending",  # "unapproved"
        "spam",  # "flagged": Akismet judged it spam
        "deleted",  # "[deleted]": what Commento leaves of a deleted comment
        *["approved"] * 4,
        "pending",
    ]


def test_commento_anonymous_comments_and_undefined_websites_are_empty() -> None:
    comments = read(COMMENTO)

    anonymous = comments[5]
    assert (anonymous.name, anonymous.email, anonymous.website) == ("", "", None)
    assert "<script>" in anonymous.text  # the importer sanitises; the reader keeps the text
    assert comments[1].website is None  # Commento's "undefined"


def test_commento_keeps_percent_encoded_paths_and_unicode_names_as_they_are() -> None:
    comments = read(COMMENTO)

    assert comments[9].page == "/blog/%E8%AF%BB%E4%B9%A6/"
    assert comments[9].name == "مريم الحسيني"
    assert comments[11].name == "Zoe\u0308 Ade\u0301"


def test_comentario_3_statuses_authors_pages_and_addresses() -> None:
    comments = read(COMENTARIO)

    assert [outcome(c) for c in comments] == [
        *["approved"] * 5,
        "pending",
        "rejected",  # neither approved nor pending: a moderator rejected it
        "deleted",
        *["approved"] * 4,
    ]
    guest, unnamed = comments[4], comments[5]
    assert (guest.name, guest.email, guest.ip) == ("Gast Ünal", "", "203.0.113.7")
    assert (unnamed.name, unnamed.email, unnamed.ip) == ("", "", "2001:db8::42")
    assert comments[0].ip is None
    assert comments[7].page == "/blog/%E8%AF%BB%E4%B9%A6/"
    assert [c.closed for c in comments if c.page == "/about/"] == [True]  # isReadonly
    assert comments[2].created_at == datetime(2024, 3, 29, 11, 20, tzinfo=UTC)


def test_comentario_3_threads_by_parent_id_across_the_file() -> None:
    comments = by_id(read(COMENTARIO))

    chain = []
    comment: SourceComment | None = next(
        c for c in comments.values() if c.text == "Report back, Lee!"
    )
    while comment is not None:
        chain.append(comment.name)
        comment = comments.get(comment.parent_id) if comment.parent_id else None
    assert chain == ["Mika", "Lee", "Dana", "Ravi", "Dana"]


def test_comentario_1_reads_path_website_url_its_anonymous_hex_and_deleted(
    tmp_path: Path,
) -> None:
    anonymous = "0" * 64
    path = write(
        tmp_path,
        {
            "version": 1,
            "comments": [
                {
                    "commentHex": "a",
                    "commenterHex": "u1",
                    "creationDate": "2021-11-02T19:03:37.088+05:30",
                    "deleted": False,
                    "direction": 0,
                    "host": "example.com",
                    "markdown": "Yay",
                    "parentHex": "root",
                    "path": "/post/",
                    "score": 23,
                    "state": "approved",
                },
                {
                    "commentHex": "b",
                    "commenterHex": anonymous,
                    "creationDate": "2021-11-03T00:00:00Z",
                    "deleted": True,
                    "markdown": "gone",
                    "parentHex": "a",
                    "path": "/post/",
                    "state": "approved",
                },
            ],
            "commenters": [
                {
                    "avatarUrl": "",
                    "commenterHex": "u1",
                    "email": "bugs@example.org",
                    "isModerator": False,
                    "joinDate": "2021-11-02T19:00:38.961Z",
                    "name": "Bugs Bunny",
                    "provider": "",
                    "websiteUrl": "https://bugs.example",
                }
            ],
        },
    )

    first, second = read(path)

    assert (first.page, first.name, first.email, first.website) == (
        "/post/",
        "Bugs Bunny",
        "bugs@example.org",
        "https://bugs.example",
    )
    assert first.created_at == datetime(2021, 11, 2, 13, 33, 37, 88000, tzinfo=UTC)
    assert (second.parent_id, second.name, second.skip) == ("a", "", Skip.DELETED)


def test_an_unknown_commento_state_waits_for_a_moderator(tmp_path: Path) -> None:
    path = write(tmp_path, {"version": 1, "comments": [v1_comment(state="frozen")]})

    assert read(path)[0].status == CommentStatus.PENDING


def test_a_gzipped_export_reads_as_the_plain_one(tmp_path: Path) -> None:
    packed = tmp_path / "blog.example-1700000000.json.gz"
    packed.write_bytes(gzip.compress(COMMENTO.read_bytes()))

    assert read(packed) == read(COMMENTO)


class RecordingProgress:
    def __init__(self) -> None:
        self.starts: list[tuple[int | None, str]] = []
        self.done = 0

    def start(self, total: int | None, unit: str) -> None:
        self.starts.append((total, unit))

    def advance(self, amount: int) -> None:
        self.done += amount


def test_progress_counts_the_bytes_of_both_passes_once_started() -> None:
    progress = RecordingProgress()
    size = COMMENTO.stat().st_size

    list(commento.read(COMMENTO, progress))

    assert progress.starts == [(2 * size, "B")]
    assert progress.done == 2 * size


def test_a_cut_short_export_names_the_comment_it_ends_in(tmp_path: Path) -> None:
    data = COMMENTO.read_bytes()
    third = -1
    for _ in range(3):
        third = data.index(b'"commentHex"', third + 1)
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: third + 40])

    error = failure(cut)

    assert error.place == "comment 3"
    assert "cut short" in error.message


def test_malformed_json_names_the_commenter_it_is_in(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        '{"version":1,"comments":[],"commenters":[{"commenterHex":"a"},{"name" "x"}]}',
        encoding="utf-8",
    )

    error = failure(path)

    assert error.place == "commenter 2"
    assert error.message.startswith("malformed JSON: parse error")


def test_a_cut_short_gzip_file_is_refused(tmp_path: Path) -> None:
    packed = gzip.compress(COMMENTO.read_bytes())
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(packed[: len(packed) // 2])

    assert "cut short" in failure(cut).message


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the file is empty"),
        (b'<?xml version="1.0"?><disqus></disqus>', "this is XML"),
        (b'[{"id": "1", "content": "hi"}]', "use `commentd import artalk`"),
        (b'{"comments": []}', 'no "version"'),
        (b'{"version": 2, "comments": []}', "version 2 is not one this reader knows"),
        (b"\xef\xbb\xbf  \n{not json", "malformed JSON"),
    ],
    ids=["empty", "disqus-xml", "artrans", "no-version", "version-2", "garbage"],
)
def test_a_file_that_is_not_an_export_is_refused_with_what_it_is(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "file.json"
    path.write_bytes(content)

    assert says in str(failure(path))


@pytest.mark.parametrize(
    ("comment", "place", "says"),
    [
        (v1_comment(commentHex=""), "comment 2", "'commentHex' is missing"),
        (v1_comment(creationDate="yesterday"), "comment 2", "'creationDate' is not a date"),
        (v1_comment(markdown={"text": "x"}), "comment 2", "'markdown' is not a string"),
        ("just text", "comment 2", "a comment is a JSON object"),
    ],
    ids=["no-id", "bad-date", "nested-text", "not-an-object"],
)
def test_a_bad_comment_is_named_by_its_number(
    tmp_path: Path, comment: object, place: str, says: str
) -> None:
    path = write(tmp_path, {"version": 1, "comments": [v1_comment(commentHex="c0"), comment]})

    error = failure(path)

    assert error.place == place
    assert says in error.message


def test_a_comentario_3_comment_on_a_page_the_file_lacks_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "version": 3,
            "pages": [],
            "comments": [{"id": "x", "pageId": "p9", "createdTime": "2023-11-14T20:15:12Z"}],
        },
    )

    error = failure(path)

    assert (error.place, error.message) == (
        "comment 1",
        "its page p9 is not among the file's pages",
    )


def test_commento_is_registered_for_commentd_import() -> None:
    assert READERS["commento"] is commento.read


def test_a_fault_far_into_a_large_export_is_named_by_its_own_comment(tmp_path: Path) -> None:
    comments = [v1_comment(commentHex=f"c{n}", markdown="word " * 40) for n in range(1, 2001)]
    text = json.dumps({"version": 1, "comments": comments})
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.index('"c1500"') + 30], encoding="utf-8")  # > 64 KiB in

    error = failure(cut)

    assert error.place == "comment 1500"
