"""Whether `POST /api/privacy/requests` takes longer for an address that has comments than for
one that has none (it must not: the answer and its timing tell nobody which it is), in process:

    .venv/bin/python -m bench.privacy_timing

An app on a fresh SQLite file with 20 comments by one address; requests about that address and
about an unknown one alternate, one each, 1,500 times; medians and 90th percentiles in ms.
"""

from __future__ import annotations

import statistics
import tempfile
import time

from commentd.config import ModerationMode, Settings
from commentd.db import make_engine
from commentd.ops.migrate import upgrade
from commentd.web.app import create_app

ROUNDS = 1500


def main() -> None:
    """Print the two distributions."""
    url = f"sqlite:///{tempfile.mkdtemp()}/commentd.db"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    client = create_app(
        Settings(
            database_url=url,
            public_url="https://comments.example",
            moderation=ModerationMode.NONE,
            smtp_url="smtp://127.0.0.1:1",  # enqueued only: nothing is sent while measuring
            privacy_rate_limit="1000000 per hour",
            privacy_client_rate_limit="1000000 per hour",
            post_rate_limit="1000 per minute",
            email_rate_limit="1000 per minute",
            min_post_interval=0,
        )
    ).test_client()
    for i in range(20):
        body = {"name": "Dana", "email": "dana@example.com", "body": f"Comment {i}"}
        assert client.post("/api/posts/x/comments", json=body).status_code == 201
    times: dict[str, list[float]] = {"dana@example.com": [], "nobody@example.com": []}
    for round_ in range(ROUNDS + 100):
        for email, taken in times.items():
            started = time.perf_counter()
            answer = client.post("/api/privacy/requests", json={"email": email, "kind": "export"})
            if round_ >= 100:  # the first 100 warm up
                taken.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 202
    for email, taken in times.items():
        taken.sort()
        print(
            f"{email:20} median {statistics.median(taken):.3f} ms, "
            f"p90 {taken[int(len(taken) * 0.9)]:.3f} ms (n={len(taken)})"
        )


if __name__ == "__main__":
    main()
