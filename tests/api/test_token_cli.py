"""`commentd token`, `commentd token list [--json]` and `commentd token revoke <label-or-id>`,
run as an operator runs them (`python -m commentd`), against the service's database."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from commentd.models import ModerationToken
from tests.helpers import MODERATOR, run_commentd


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_list_shows_id_label_and_time_never_the_token(
    client: FlaskClient, database_url: str, migrated_engine: Engine
) -> None:
    laptop = run_commentd(database_url, "token", "--label", "laptop").stdout.strip()
    plain = run_commentd(database_url, "token")
    console = client.post("/api/moderation/tokens", json={"label": "phone"}, headers=MODERATOR)

    listed = run_commentd(database_url, "token", "list")
    as_json = json.loads(run_commentd(database_url, "token", "list", "--json").stdout)

    assert "--label" in plain.stderr  # the hint to name tokens
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(line[1]) for line in lines] == ["laptop", "-", "phone"]
    assert [int(line[0]) for line in lines] == [t["id"] for t in as_json["tokens"]]
    assert all(line[2].endswith("Z") and len(line[2]) == 20 for line in lines)
    assert laptop not in listed.stdout and plain.stdout.strip() not in listed.stdout
    assert as_json["admin_token"] is False  # run_commentd sets no COMMENTD_ADMIN_TOKEN
    assert [t["label"] for t in as_json["tokens"]] == ["laptop", "", "phone"]
    assert console.json is not None and as_json["tokens"][2]["id"] == console.json["id"]
    assert as_json["tokens"][2]["created_at"] == console.json["created_at"]
    listed_api = client.get("/api/moderation/tokens", headers=MODERATOR).json
    assert listed_api is not None
    assert [{k: t[k] for k in ("id", "label", "created_at")} for t in listed_api["tokens"]] == (
        as_json["tokens"]
    )
    assert client.get("/api/moderation/counts", headers=bearer(laptop)).status_code == 200


def test_an_empty_list_says_how_to_make_a_token(database_url: str, migrated_engine: Engine) -> None:
    done = run_commentd(database_url, "token", "list")
    as_json = json.loads(run_commentd(database_url, "token", "list", "--json").stdout)

    assert done.stdout == "" and "commentd token --label" in done.stderr
    assert as_json == {"tokens": [], "admin_token": False}


def test_a_duplicate_label_is_refused(database_url: str, migrated_engine: Engine) -> None:
    first = run_commentd(database_url, "token", "--label", "laptop")
    second = run_commentd(database_url, "token", "--label", "laptop", check=False)
    number = run_commentd(database_url, "token", "--label", "17", check=False)

    assert second.returncode == 1 and second.stdout == ""
    assert "laptop" in second.stderr and "exists already" in second.stderr
    assert number.returncode == 1 and "number" in number.stderr
    listed = run_commentd(database_url, "token", "list").stdout
    assert listed.count("laptop") == 1 and first.stdout.strip() not in listed


def test_revoke_by_label_or_id_ends_the_token_at_once(
    client: FlaskClient, database_url: str, migrated_engine: Engine
) -> None:
    laptop = run_commentd(database_url, "token", "--label", "laptop").stdout.strip()
    phone = run_commentd(database_url, "token", "--label", "phone").stdout.strip()
    tablet = run_commentd(database_url, "token", "--label", "tablet").stdout.strip()
    ids = [
        t["id"]
        for t in json.loads(run_commentd(database_url, "token", "list", "--json").stdout)["tokens"]
    ]
    assert client.get("/api/moderation/counts", headers=bearer(laptop)).status_code == 200

    by_label = run_commentd(database_url, "token", "revoke", "laptop")
    by_id = run_commentd(database_url, "token", "revoke", str(ids[1]))
    by_hash_id = run_commentd(database_url, "token", "revoke", f"#{ids[2]}")

    assert by_label.stdout == f"Revoked 1 token: #{ids[0]} “laptop”.\n"
    assert by_id.stdout == f"Revoked 1 token: #{ids[1]} “phone”.\n"
    assert by_hash_id.stdout == f"Revoked 1 token: #{ids[2]} “tablet”.\n"
    for token in (laptop, phone, tablet):
        assert client.get("/api/moderation/counts", headers=bearer(token)).status_code == 401
    assert run_commentd(database_url, "token", "list").stdout == ""


def test_revoking_what_is_not_there_exits_1_with_a_message(
    database_url: str, migrated_engine: Engine
) -> None:
    run_commentd(database_url, "token", "--label", "laptop")
    for name in ("desk", "999", "#999", "#laptop"):
        done = run_commentd(database_url, "token", "revoke", name, check=False)
        assert done.returncode == 1, name
        assert "no token has the label or id" in done.stderr and "token list" in done.stderr
    assert "laptop" in run_commentd(database_url, "token", "list").stdout


def test_old_tokens_sharing_a_label_are_revoked_together_and_counted(
    client: FlaskClient, database_url: str, migrated_engine: Engine
) -> None:
    """Before labels had to be unique, `commentd token --label laptop` could run twice."""
    tokens = [
        run_commentd(database_url, "token", "--label", f"x{n}").stdout.strip() for n in range(3)
    ]
    with Session(migrated_engine) as session:  # relabelled as older versions allowed
        for label in ("x0", "x1"):
            session.query(ModerationToken).filter(
                ModerationToken.label == label
            ).one().label = "laptop"
        session.commit()
    ids = [
        t["id"]
        for t in json.loads(run_commentd(database_url, "token", "list", "--json").stdout)["tokens"]
    ]

    done = run_commentd(database_url, "token", "revoke", "laptop")

    assert done.stdout == f"Revoked 2 tokens: #{ids[0]} “laptop”, #{ids[1]} “laptop”.\n"
    statuses = [client.get("/api/moderation/counts", headers=bearer(t)).status_code for t in tokens]
    assert statuses == [401, 401, 200]


def test_a_number_that_is_an_id_and_another_token_s_label_is_refused(
    client: FlaskClient, database_url: str, migrated_engine: Engine
) -> None:
    first = run_commentd(database_url, "token", "--label", "a").stdout.strip()
    run_commentd(database_url, "token", "--label", "b")
    ids = [
        t["id"]
        for t in json.loads(run_commentd(database_url, "token", "list", "--json").stdout)["tokens"]
    ]
    with Session(migrated_engine) as session:  # an old label that is a number
        row = session.get(ModerationToken, ids[1])
        assert row is not None
        row.label = str(ids[0])
        session.commit()

    ambiguous = run_commentd(database_url, "token", "revoke", str(ids[0]), check=False)
    by_id = run_commentd(database_url, "token", "revoke", f"#{ids[0]}")

    assert ambiguous.returncode == 1 and f"#{ids[0]}" in ambiguous.stderr
    assert by_id.stdout == f"Revoked 1 token: #{ids[0]} “a”.\n"
    assert client.get("/api/moderation/counts", headers=bearer(first)).status_code == 401


def test_label_is_only_for_making_a_token(database_url: str, migrated_engine: Engine) -> None:
    done = run_commentd(database_url, "token", "--label", "x", "list", check=False)

    assert done.returncode == 2 and "--label is for making a token" in done.stderr
