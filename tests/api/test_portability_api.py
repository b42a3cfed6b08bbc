"""Moving comments through the moderation API, for an author without a shell: an export
uploaded in parts (each under the server's 256 KiB request limit) and imported, with the same
summary, all-or-nothing and idempotence as `commentd import`; and the site's comments
downloaded as commentd's JSON or WordPress's WXR."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bench.disqus_export import write_export
from commentd.models import Comment, ImportUpload
from commentd.web.moving import MAX_WAITING_UPLOADS, PART_BYTES
from tests.helpers import ADMIN_TOKEN, MODERATOR, LiveServer, run_commentd

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"


@pytest.fixture(scope="module")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Disqus export of 2,000 posts: several parts long."""
    path = tmp_path_factory.mktemp("export") / "disqus.xml"
    write_export(path, comments=2000, threads=200, seed=7)
    assert path.stat().st_size > 3 * PART_BYTES
    return path


def upload(
    client: FlaskClient, data: bytes, source: str = "disqus", skip: set[int] | None = None
) -> str:
    """Begin an upload and send its parts (but those in `skip`); its id."""
    begun = client.post(
        "/api/moderation/imports", json={"format": source, "size": len(data)}, headers=MODERATOR
    )
    assert begun.status_code == 201, begun.json
    shown = begun.json
    assert shown is not None
    assert shown["parts"] == max(1, math.ceil(len(data) / shown["part_bytes"]))
    for number in range(shown["parts"]):
        if number in (skip or set()):
            continue
        part = data[number * shown["part_bytes"] : (number + 1) * shown["part_bytes"]]
        sent = client.put(
            f"/api/moderation/imports/{shown['id']}/parts/{number}",
            data=part,
            headers=MODERATOR | {"Content-Type": "application/octet-stream"},
        )
        assert sent.status_code == 204, sent.json
    return str(shown["id"])


def run(client: FlaskClient, upload_id: str, **options: Any) -> Any:
    return client.post(f"/api/moderation/imports/{upload_id}/run", json=options, headers=MODERATOR)


def count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Comment)) or 0)


def test_an_export_uploaded_in_parts_imports_as_the_command_line_would(
    client: FlaskClient, migrated_engine: Engine, big_export: Path
) -> None:
    data = big_export.read_bytes()
    upload_id = upload(client, data)

    dry = run(client, upload_id, dry_run=True)
    assert dry.status_code == 200, dry.json
    assert dry.json["dry_run"] is True and dry.json["read"] == 2000
    assert count(migrated_engine) == 0

    done = run(client, upload_id)
    assert done.status_code == 200, done.json
    summary = done.json
    assert summary["dry_run"] is False and summary["read"] == 2000
    imported = sum(summary["imported"].values())
    assert imported == dry.json["imported"]["approved"] + dry.json["imported"]["spam"]
    assert imported + sum(summary["skipped"].values()) == 2000
    assert count(migrated_engine) == imported
    # A real run uses the upload up; the same file again stores nothing new.
    assert run(client, upload_id).status_code == 404
    again = run(client, upload(client, data))
    assert again.json["already_imported"] == imported
    assert count(migrated_engine) == imported


def test_missing_parts_are_named_and_nothing_is_imported(
    client: FlaskClient, migrated_engine: Engine, big_export: Path
) -> None:
    upload_id = upload(client, big_export.read_bytes(), skip={1, 2})
    answer = run(client, upload_id)
    assert answer.status_code == 409
    assert answer.json["error"] == "upload_incomplete" and answer.json["missing"] == [1, 2]
    assert count(migrated_engine) == 0


def test_a_broken_file_is_a_422_naming_the_place_and_stores_nothing(
    client: FlaskClient, migrated_engine: Engine, big_export: Path
) -> None:
    data = big_export.read_bytes()
    upload_id = upload(client, data[: len(data) * 2 // 3])
    answer = run(client, upload_id)
    assert answer.status_code == 422
    assert answer.json["error"] == "import_failed"
    assert answer.json["place"].startswith("line ")
    assert "Nothing was imported" in answer.json["message"]
    assert count(migrated_engine) == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"format": "disqus"}, 422, "validation"),
        ({"format": "blogger", "size": 10}, 422, "validation"),
        ({"format": "disqus", "size": -1}, 422, "validation"),
        ({"format": "disqus", "size": True}, 422, "validation"),
        ({"format": "disqus", "size": 513 * 1024 * 1024}, 413, "too_large"),
        ([1, 2], 400, "bad_request"),
    ],
)
def test_an_upload_that_cannot_begin_says_why(
    client: FlaskClient, body: object, status: int, code: str
) -> None:
    answer = client.post("/api/moderation/imports", json=body, headers=MODERATOR)
    assert answer.status_code == status, answer.json
    assert answer.json["error"] == code and answer.json["message"]


def test_a_part_of_the_wrong_size_or_number_is_refused(client: FlaskClient) -> None:
    begun = client.post(
        "/api/moderation/imports",
        json={"format": "disqus", "size": PART_BYTES + 10},
        headers=MODERATOR,
    ).json
    assert begun is not None
    url = f"/api/moderation/imports/{begun['id']}/parts"
    assert client.put(f"{url}/0", data=b"x" * 10, headers=MODERATOR).status_code == 400
    assert client.put(f"{url}/1", data=b"x" * 11, headers=MODERATOR).status_code == 400
    assert client.put(f"{url}/2", data=b"x" * 10, headers=MODERATOR).status_code == 400
    assert client.put(f"{url}/1", data=b"x" * 10, headers=MODERATOR).status_code == 204
    too_big = client.put(f"{url}/0", data=b"x" * (PART_BYTES + 1), headers=MODERATOR)
    assert too_big.status_code == 413
    assert (
        client.delete(f"/api/moderation/imports/{begun['id']}", headers=MODERATOR).status_code
        == 204
    )
    assert client.put(f"{url}/1", data=b"x" * 10, headers=MODERATOR).status_code == 404


def test_only_the_author_may_move_comments(client: FlaskClient, migrated_engine: Engine) -> None:
    assert client.post("/api/moderation/imports", json={}).status_code == 401
    refused = client.get("/api/moderation/export/json")
    assert refused.status_code == 401
    refused.close()
    assert (
        client.put("/api/moderation/imports/" + "0" * 32 + "/parts/0", data=b"x").status_code == 401
    )
    with Session(migrated_engine) as session:
        assert session.scalar(select(func.count()).select_from(ImportUpload)) == 0


def test_a_download_is_the_export_the_command_line_writes(
    client: FlaskClient, database_url: str, tmp_path: Path
) -> None:
    sample = FIXTURES / "disqus" / "sample.xml"
    run_commentd(database_url, "import", "disqus", str(sample))
    download = client.get("/api/moderation/export/json", headers=MODERATOR)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment; filename=")
    from_api = json.loads(download.data)
    download.close()  # a WSGI server closes it; the file under it goes then
    written = tmp_path / "cli.json"
    run_commentd(database_url, "export", "json", str(written))
    from_cli = json.loads(written.read_text())
    for document in (from_api, from_cli):
        document.pop("exported_at")
    assert from_api == from_cli

    wxr = client.get(
        "/api/moderation/export/wordpress?site_url=https://blog.example", headers=MODERATOR
    )
    assert wxr.status_code == 200 and wxr.mimetype == "application/xml"
    assert b"<wp:wxr_version>1.2</wp:wxr_version>" in wxr.data
    wxr.close()


def test_parts_pass_through_the_real_server(live_server: LiveServer, big_export: Path) -> None:
    """Each part is a request the hardened server takes (under 256 KiB, quickly)."""
    data = big_export.read_bytes()
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    begun = requests.post(
        f"{live_server.url}/api/moderation/imports",
        json={"format": "disqus", "size": len(data)},
        headers=headers,
        timeout=30,
    ).json()
    for number in range(begun["parts"]):
        part = data[number * begun["part_bytes"] : (number + 1) * begun["part_bytes"]]
        sent = requests.put(
            f"{live_server.url}/api/moderation/imports/{begun['id']}/parts/{number}",
            data=part,
            headers=headers | {"Content-Type": "application/octet-stream"},
            timeout=30,
        )
        assert sent.status_code == 204, sent.text
    done = requests.post(
        f"{live_server.url}/api/moderation/imports/{begun['id']}/run",
        json={},
        headers=headers,
        timeout=120,
    )
    assert done.status_code == 200, done.text
    assert done.json()["read"] == 2000
    page = requests.get(
        f"{live_server.url}/api/moderation/export/json", headers=headers, timeout=60
    )
    assert page.status_code == 200
    assert len(page.json()["comments"]) == sum(done.json()["imported"].values())


def test_at_most_a_few_uploads_wait_at_once(client: FlaskClient) -> None:
    begun = [
        client.post(
            "/api/moderation/imports", json={"format": "disqus", "size": 10}, headers=MODERATOR
        )
        for _ in range(MAX_WAITING_UPLOADS)
    ]
    assert [b.status_code for b in begun] == [201] * MAX_WAITING_UPLOADS
    refused = client.post(
        "/api/moderation/imports", json={"format": "disqus", "size": 10}, headers=MODERATOR
    )
    assert refused.status_code == 409 and refused.json["error"] == "too_many_uploads"
    first = begun[0].json["id"]
    assert client.delete(f"/api/moderation/imports/{first}", headers=MODERATOR).status_code == 204
    again = client.post(
        "/api/moderation/imports", json={"format": "disqus", "size": 10}, headers=MODERATOR
    )
    assert again.status_code == 201


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"dry_run": "yes"}, ["dry_run"]),
        ({"teach": []}, ["teach"]),
        ({"dry_run": 1, "teach": "no"}, ["dry_run", "teach"]),
    ],
)
def test_an_import_option_that_is_not_true_or_false_is_named(
    client: FlaskClient, options: dict[str, Any], named: list[str]
) -> None:
    upload_id = upload(client, b"[]", source="json")

    refused = run(client, upload_id, **options)

    assert refused.status_code == 422
    assert refused.json is not None and sorted(refused.json["fields"]) == named
