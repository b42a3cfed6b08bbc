"""The moderation console's search over 1,000,000 comments, on SQLite (FTS5) and PostgreSQL
(tsvector + GIN): how long a page of results and the counts take.

    .venv/bin/python -m bench.search                                   # 1M, both backends
    .venv/bin/python -m bench.search --comments 50000 --backends sqlite # a quick look

For each backend it creates an empty database, migrates it (`commentd migrate`'s upgrade, so
the search objects are migration 0010_search's), and loads generated comments over a tenth
as many posts: SQLite through executemany (the FTS5 triggers index each row as it comes, as
for an import), PostgreSQL through COPY (the generated tsvector column computed per row; the
GIN index built after the load, as a bulk load does, then ANALYZE). Bodies are 8-40 words
drawn from a 20,000-word vocabulary by Zipf's law (rank r has weight 1/r), so some words are
in most comments and most words in few; names come from a list of first names, emails are
name.N@one-of-50-domains, a third of the comments have a website. Statuses: 80 % approved,
10 % pending, 8 % spam, 2 % rejected.

Then it times, through commentd.comments.search (the code behind GET
/api/moderation/comments and /counts), each typical search --rounds times, rotating among 20
different values: a common word (vocabulary ranks 20-40), a rare word (ranks 5,000-20,000),
a name prefix (four letters), an email address, a common word with status=pending, and the
counts of a common word. p50 and p99 in milliseconds; a page is 50 comments, newest first.
PostgreSQL is BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432/postgres); a
database of a unique name is created and dropped. Results: bench/results/search-<date>.json
and a Markdown table on standard output.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from commentd.comments import search
from commentd.db import make_engine
from commentd.ops.migrate import upgrade

from .run import database

HERE = Path(__file__).resolve().parent
FIRST_NAMES = [
    "Marguerite",
    "Dana",
    "Erin",
    "Fay",
    "Gus",
    "Hal",
    "Ines",
    "Jorge",
    "Kiri",
    "Lena",
    "Mateo",
    "Noor",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tamar",
    "Ugo",
    "Vera",
    "Wen",
    "Xavier",
    "Yusuf",
    "Zoe",
    "Amara",
    "Bruno",
    "Chiara",
    "Dmitri",
    "Elif",
    "Farah",
]
DOMAINS = [f"mail{n}.example" for n in range(50)]
STATUSES = ["approved"] * 80 + ["pending"] * 10 + ["spam"] * 8 + ["rejected"] * 2
VOCABULARY_SIZE = 20_000
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "vi",
    "so",
    "pe",
    "da",
    "fu",
    "gi",
    "ho",
    "ja",
    "ze",
    "wo",
    "xi",
    "yu",
    "be",
    "co",
]
PAGE = 50


def vocabulary() -> list[str]:
    """VOCABULARY_SIZE distinct pronounceable words, the same on every run."""
    words: list[str] = []
    for length in (2, 3, 4):
        for parts in itertools.product(SYLLABLES, repeat=length):
            words.append("".join(parts))
            if len(words) == VOCABULARY_SIZE:
                return words
    return words


def rows(count: int, posts: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """(post_id, status, name, email, website, body, body_html, created_at) per comment."""
    rng = random.Random(seed)
    words = vocabulary()
    weights = list(itertools.accumulate(1 / rank for rank in range(1, len(words) + 1)))
    start = datetime(2020, 1, 1, tzinfo=UTC)
    step = (datetime(2026, 11, 1, tzinfo=UTC) - start) / count
    for n in range(count):
        name = rng.choice(FIRST_NAMES)
        person = rng.randrange(count // 5 + 1)
        body = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(8, 40)))
        created = start + step * n
        yield (
            rng.randrange(1, posts + 1),
            rng.choice(STATUSES),
            f"{name} {rng.choice(SYLLABLES).title()}",
            f"{name.lower()}.{person}@{rng.choice(DOMAINS)}",
            f"https://{name.lower()}{person}.example/" if rng.random() < 0.33 else None,
            body,
            f"<p>{body}</p>",
            created.strftime("%Y-%m-%d %H:%M:%S.%f"),
        )


COLUMNS = (
    "post_id, status, name, email, website, body, body_html, created_at, "
    "avatar_key, notify, notify_approved, spam_score, reasons"
)
CACHE = Path(tempfile.gettempdir()) / "commentd-bench-search"
NULL = "\\N"


def comments_file(count: int, posts: int) -> Path:
    """The generated comments as PostgreSQL COPY text (tab-separated, \\N for null), written
    once per size and kept in CACHE: both backends load the same rows."""
    path = CACHE / f"comments-{count}.tsv"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        for row in rows(count, posts):
            values = [str(v) if v is not None else NULL for v in row]
            values[7] += "+00"
            out.write("\t".join([*values, "0", "f", "f", "0", "[]"]) + "\n")
    partial.rename(path)
    return path


def load_sqlite(path: Path, source: Path, posts: int) -> None:
    """Bulk load: the FTS5 triggers dropped, the index rebuilt once after, the triggers put
    back (as 0010_search made them)."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    triggers = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'comments'"
    ).fetchall()
    for name, _ in triggers:
        connection.execute(f"DROP TRIGGER {name}")
    connection.executemany(
        "INSERT INTO posts (id, slug, approved_count, version, closed, created_at) "
        "VALUES (?, ?, 0, 'v', 0, '2020-01-01 00:00:00.000000')",
        ((n, f"post-{n}") for n in range(1, posts + 1)),
    )

    def parsed() -> Iterator[list[Any]]:
        with source.open(encoding="utf-8") as lines:
            for line in lines:
                values: list[Any] = [
                    None if v == NULL else v for v in line.rstrip("\n").split("\t")
                ]
                values[7] = values[7].removesuffix("+00")
                values[9] = values[10] = 0
                yield values

    batch = parsed()
    while chunk := list(itertools.islice(batch, 50_000)):
        connection.executemany(
            f"INSERT INTO comments ({COLUMNS}) VALUES ({', '.join('?' * 13)})", chunk
        )
        connection.commit()
    connection.execute("INSERT INTO comments_fts(comments_fts) VALUES ('rebuild')")
    for _, sql in triggers:
        connection.execute(sql)
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()


def load_postgresql(engine: Engine, source: Path, posts: int) -> None:
    """Bulk load: COPY, the GIN index dropped during it and built after, then ANALYZE."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("DROP INDEX ix_comments_search_vector")
        posts_copy = "COPY posts (id, slug, approved_count, version, closed, created_at) FROM STDIN"
        with cursor.copy(posts_copy) as c:
            for n in range(1, posts + 1):
                c.write_row((n, f"post-{n}", 0, "v", False, "2020-01-01 00:00:00+00"))
        with cursor.copy(f"COPY comments ({COLUMNS}) FROM STDIN") as c, source.open("rb") as f:
            while block := f.read(1 << 20):
                c.write(block)
        cursor.execute(
            "CREATE INDEX ix_comments_search_vector ON comments USING gin (search_vector)"
        )
        cursor.execute("SELECT setval('comments_id_seq', (SELECT max(id) FROM comments))")
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def samples(engine: Engine) -> dict[str, list[str]]:
    """20 values of each kind of search, taken from what was loaded."""
    words = vocabulary()
    with engine.connect() as connection:
        emails = connection.execute(
            text("SELECT email FROM comments WHERE id % 50000 = 7 LIMIT 20")
        ).scalars()
        found = list(emails)
    return {
        "common": words[20:40],
        "rare": words[5000:20000:750],
        "prefix": [name[:4].lower() for name in FIRST_NAMES[:20]],
        "email": found,
    }


def timed(call: Callable[[], object], rounds: int) -> dict[str, float]:
    took = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        took.append((time.perf_counter() - began) * 1000)
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 1),
        "p99_ms": round(took[min(len(took) - 1, int(len(took) * 0.99))], 1),
        "max_ms": round(took[-1], 1),
    }


def measure(engine: Engine, rounds: int) -> dict[str, dict[str, float]]:
    values = samples(engine)
    cases: dict[str, tuple[str, dict[str, str]]] = {
        "a common word": ("common", {"status": "all"}),
        "a rare word": ("rare", {"status": "all"}),
        "a name prefix": ("prefix", {"status": "all"}),
        "an email address": ("email", {"status": "all"}),
        "a common word, status=pending": ("common", {"status": "pending"}),
        "counts of a common word": ("common", {}),
    }
    results = {}
    with Session(engine) as session:
        for label, (kind, extra) in cases.items():
            cycle = itertools.cycle(values[kind])

            def one(
                label: str = label,
                extra: dict[str, str] = extra,
                cycle: Iterator[str] = cycle,
            ) -> object:
                filters = search.parse_filters({"q": next(cycle), **extra})
                if label.startswith("counts"):
                    return search.count_matching(session, filters)
                page, _ = search.search(session, filters, limit=PAGE)
                return page

            one()  # warm the caches once
            results[label] = timed(one, rounds)
            session.rollback()
    return results


def run_backend(backend: str, count: int, rounds: int, *, keep: bool) -> dict[str, Any]:
    posts = max(1, count // 10)
    with tempfile.TemporaryDirectory() as folder, database(backend, Path(folder), "search") as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            source = comments_file(count, posts)
            began = time.perf_counter()
            if backend == "sqlite":
                engine.dispose()
                kept = CACHE / f"sqlite-{count}.db"
                if keep and kept.exists():
                    engine = make_engine(f"sqlite:///{kept}")
                else:
                    load_sqlite(Path(folder) / "search.db", source, posts)
                    if keep:
                        shutil.copyfile(Path(folder) / "search.db", kept)
            else:
                load_postgresql(engine, source, posts)
            load_seconds = round(time.perf_counter() - began, 1)
            print(f"{backend}: {count:,} comments loaded in {load_seconds} s", flush=True)
            return {"load_seconds": load_seconds, "queries": measure(engine, rounds)}
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the loaded SQLite database in the cache and search that one next time "
        "(its load time is then the copy's opening, not a load)",
    )
    args = parser.parse_args()
    results = {
        "comments": args.comments,
        "rounds": args.rounds,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "backends": {
            b: run_backend(b, args.comments, args.rounds, keep=args.keep) for b in args.backends
        },
    }
    out = HERE / "results" / f"search-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{args.comments:,} comments, {args.rounds} searches each, page of {PAGE}\n")
    print("| search | " + " | ".join(f"{b} p50 / p99 ms" for b in args.backends) + " |")
    print("| --- |" + " --- |" * len(args.backends))
    for label in next(iter(results["backends"].values()))["queries"]:
        cells = [
            f"{results['backends'][b]['queries'][label]['p50_ms']} / "
            f"{results['backends'][b]['queries'][label]['p99_ms']}"
            for b in args.backends
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    loads = ", ".join(f"{b} {results['backends'][b]['load_seconds']} s" for b in args.backends)
    print(f"\nLoad: {loads}. Results: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
