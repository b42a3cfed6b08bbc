"""The reader's language in the API: a 422's texts in the Accept-Language language (English,
word for word as before, without one), and the catalogues embed.js fetches."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from commentd import i18n
from commentd.comments.validation import BODY_MAX
from commentd.web.widgets import STATIC_DIR
from tests.helpers import SLUG, comment_fields, post_comment

EMPTY = {"name": "", "email": "", "body": ""}


def refused(client: FlaskClient, fields: dict[str, Any], **headers: str) -> Any:
    response = client.post(f"/api/posts/{SLUG}/comments", json=fields, headers=headers)
    assert response.status_code == 422, response.json
    return response


def test_without_accept_language_the_422_is_english_as_it_always_was(client: FlaskClient) -> None:
    response = refused(client, EMPTY | {"website": "ftp://x", "notify": "maybe"})
    assert response.json == {
        "error": "validation",
        "message": "Some fields need another look: body, email, name, notify, website.",
        "fields": {
            "name": "Please enter your name.",
            "email": "Please enter your email address (it will not be published).",
            "body": "Please write a comment.",
            "website": "Please give a web address starting with http:// or https://.",
            "notify": "must be true or false",
        },
    }
    assert response.headers["Content-Language"] == "en"
    assert "Accept-Language" in response.headers["Vary"]


def test_accept_language_fr_gives_french_texts(client: FlaskClient) -> None:
    response = refused(
        client, EMPTY | {"body": "x" * (BODY_MAX + 1)}, **{"Accept-Language": "fr-CH, fr;q=0.9"}
    )
    fields = response.json["fields"]
    assert fields["body"] == (
        f"Les commentaires sont limités à {BODY_MAX} caractères ; celui-ci en compte "
        f"{BODY_MAX + 1}."
    )
    assert response.json["message"] == "Certains champs sont à revoir : body, email, name."
    assert fields["name"] == "Veuillez saisir votre nom."
    assert response.headers["Content-Language"] == "fr"


@pytest.mark.parametrize("language", [name for name in i18n.languages() if name != "en"])
def test_every_language_says_every_field_error(client: FlaskClient, language: str) -> None:
    response = refused(client, EMPTY, **{"Accept-Language": language})
    fields = response.json["fields"]
    assert fields["name"] == i18n.translate(language, "nameMissing")
    assert fields["email"] == i18n.translate(language, "refused_email_missing")
    assert response.json["message"] == i18n.translate(
        language, "refused_fields", fields="body, email, name"
    )
    assert response.headers["Content-Language"] == language


def test_email_validators_reason_is_its_own_english_and_ours_elsewhere(
    client: FlaskClient,
) -> None:
    english = refused(client, comment_fields(email="dana@"))
    german = refused(client, comment_fields(email="dana@"), **{"Accept-Language": "de"})
    assert english.json["fields"]["email"] == "There must be something after the @-sign."
    assert german.json["fields"]["email"] == i18n.translate("de", "refused_email_at")
    no_dot = refused(client, comment_fields(email="dana@localhost"), **{"Accept-Language": "ja"})
    assert no_dot.json["fields"]["email"] == i18n.translate("ja", "refused_email_domain")


def test_a_reply_to_no_comment_is_refused_in_arabic(client: FlaskClient) -> None:
    post_comment(client)  # the post exists
    response = refused(client, comment_fields(parent_id=999), **{"Accept-Language": "ar"})
    assert response.json["message"] == "لا يوجد تعليق 999 في هذه التدوينة للرد عليه."
    assert response.json["fields"] == {"parent_id": "ليس معرّف تعليق في هذه التدوينة"}
    english = refused(client, comment_fields(parent_id=999))
    assert english.json["message"] == "There is no comment 999 on this post to reply to."
    assert english.json["fields"] == {"parent_id": "is not the id of a comment on this post"}


def test_an_error_without_words_is_unchanged_by_accept_language(client: FlaskClient) -> None:
    response = client.post(
        f"/api/posts/{SLUG}/comments",
        data=b"{",
        headers={"Accept-Language": "de"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json is not None and response.json["message"] == "The body is not valid JSON."
    assert "Content-Language" not in response.headers


# ---- GET /api/i18n/<language>.json ----------------------------------------------------------


def test_a_catalogue_is_served_as_its_file_says_and_cached_by_version(
    client: FlaskClient,
) -> None:
    version = i18n.version("de")
    plain = client.get("/api/i18n/de.json")
    versioned = client.get(f"/api/i18n/de.json?v={version}")
    assert plain.status_code == versioned.status_code == 200
    assert plain.json == dict(i18n.catalogue("de"))
    assert plain.headers["Access-Control-Allow-Origin"] == "*"
    assert plain.headers["Content-Language"] == "de"
    assert plain.headers["ETag"] == f'"{version}"'
    assert plain.headers["Cache-Control"] == "public, max-age=300"
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    again = client.get("/api/i18n/de.json", headers={"If-None-Match": f'"{version}"'})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("asked", ["xx", "DE", "de-AT", "..%2Fen", "en.json%00"])
def test_only_a_catalogues_exact_name_is_served(client: FlaskClient, asked: str) -> None:
    response = client.get(f"/api/i18n/{asked}.json")
    assert response.status_code == 404
    assert response.json is not None and response.json["error"] == "not_found"


def test_embed_js_carries_english_from_en_json_and_the_other_languages_versions(
    client: FlaskClient,
) -> None:
    script = client.get("/embed.js").get_data(as_text=True)
    line = next(line for line in script.splitlines() if line.startswith("var WIDGET_I18N = "))
    data = json.loads(line.removeprefix("var WIDGET_I18N = ").removesuffix(";"))
    assert data == i18n.widget_data()
    assert data["en"]["loading"] == "Loading comments…"
    # One source of truth: embed.js itself holds no English table any more.
    own = (STATIC_DIR / "embed.js").read_text(encoding="utf-8")
    assert "Loading comments" not in own and "Post comment" not in own
    # The console has no need of the readers' catalogues.
    assert "var WIDGET_I18N" not in client.get("/moderation.js").get_data(as_text=True)


def test_the_no_script_refusal_page_says_the_services_reasons_in_the_forms_language(
    client: FlaskClient,
) -> None:
    fields = {"name": "N" * 81, "email": "dana@example.com", "body": "Gardé", "website": "ftp://x"}
    response = client.post(
        f"/api/posts/{SLUG}/comments",
        data=urlencode(fields | {"lang": "fr"}).encode(),
        content_type="application/x-www-form-urlencoded",
        headers={"Accept": "text/html", "Origin": "https://blog.example"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Votre nom ne doit pas dépasser 80 caractères." in page
    assert "Veuillez indiquer une adresse web commençant par http:// ou https://." in page
    assert "Please keep your name" not in page
