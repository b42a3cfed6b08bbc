"""web.spooling.SpooledAnswers: an answer over a megabyte is written whole to a temporary file
before its first byte is sent, and sent from it; when that file cannot be written the client
gets a 503 saying why, never a 200 cut short. (A full TMPDIR itself: tests/live/test_faults.py,
which mounts one.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.wsgi import FileWrapper

from bench.disqus_export import write_export
from commentd.models import Post
from commentd.web.spooling import SPOOL_BYTES
from tests.api.test_shortages import no_open_files_left
from tests.helpers import run_commentd, stored_values

# The server's file wrapper, as waitress hands its own to the app (PEP 3333).
SERVED = {"wsgi.file_wrapper": FileWrapper}


@pytest.fixture
def big_slug(app: Flask, database_url: str, tmp_path: Path) -> str:
    """A post whose thread's HTML fragment is ~3.6 MB (1,500 comments)."""
    write_export(tmp_path / "big.xml", comments=1500, threads=1)
    run_commentd(database_url, "import", "disqus", str(tmp_path / "big.xml"))
    (slug,) = stored_values(database_url, Post.slug)
    return slug


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_big_answer_is_sent_whole_from_a_file(client: FlaskClient, big_slug: str) -> None:
    path = f"/api/posts/{big_slug}/comments.html"
    plain = client.get(path)  # no file wrapper: passed as the app made it
    served = client.get(path, environ_base=SERVED, buffered=True)
    assert served.status_code == 200
    assert int(served.headers["Content-Length"]) > SPOOL_BYTES
    assert served.data == plain.data
    assert served.headers["Content-Length"] == str(len(served.data))
    assert served.headers["ETag"] == plain.headers["ETag"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_big_answer_that_cannot_be_written_is_a_503_and_small_ones_still_go(
    client: FlaskClient, big_slug: str
) -> None:
    path = f"/api/posts/{big_slug}/comments.html"
    client.get(path)  # built and cached: no file needed but the spool's
    small = client.get("/healthz", environ_base=SERVED, buffered=True)
    with no_open_files_left():
        refused = client.get(path, environ_base=SERVED, buffered=True)
        small_again = client.get("/healthz", environ_base=SERVED, buffered=True)
        head = client.head(path, environ_base=SERVED, buffered=True)
    assert refused.status_code == 503
    assert json.loads(refused.data)["error"] == "overloaded"
    assert refused.headers["Retry-After"] == "5"
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.headers["Cache-Control"] == "no-store"
    assert "ETag" not in refused.headers
    # What the app set for every answer stays: the request's id, CORS, nosniff.
    assert refused.headers["X-Request-Id"]
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert small_again.status_code == small.status_code == 200
    assert head.status_code == 200 and not head.data  # HEAD sends no body: nothing to write
    assert client.get(path, environ_base=SERVED, buffered=True).status_code == 200
