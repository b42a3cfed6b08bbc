"""config.py: the environment is read once, with API.md's defaults and clear errors."""

from __future__ import annotations

import pytest

from commentd.config import ConfigError, ModerationMode, Settings, check_secret, parse_flag
from commentd.ops.server import worker_plan

GOOD_SECRET = "Hq3xv0Yb-R8kPz2LmW5nTc7sJd9fUa1eQ4oI6gZ"
SECRETS = ("COMMENTD_ADMIN_TOKEN", "COMMENTD_SECRET_KEY", "COMMENTD_WEBHOOK_SECRET")


def test_no_environment_gives_the_embedded_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.database_url == "sqlite:///commentd.db"
    assert settings.ratelimit_storage_uri == "memory://"
    assert settings.post_rate_limit == "5 per minute;50 per day"
    assert settings.site_rate_limit == "60 per minute"
    assert (settings.min_fill_seconds, settings.hold_links, settings.trusted_proxies) == (3, 2, 0)
    assert settings.moderation is ModerationMode.ALL
    assert settings.admin_token is None and settings.secret_key is None
    assert settings.serving_at("0.0.0.0", 9000).public_url == "http://0.0.0.0:9000"


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "COMMENTD_DATABASE_URL": "postgresql+psycopg://db/commentd",
            "COMMENTD_ADMIN_TOKEN": "test-admin-token-0123456789",
            "COMMENTD_ALLOWED_ORIGINS": "https://Blog.example/, https://www.blog.example",
            "COMMENTD_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
            "COMMENTD_POST_RATE_LIMIT": "3 per minute",
            "COMMENTD_SITE_RATE_LIMIT": "100 per hour",
            "COMMENTD_MIN_FILL_SECONDS": "5",
            "COMMENTD_HOLD_LINKS": "0",
            "COMMENTD_TRUSTED_PROXIES": "1",
            "COMMENTD_MODERATION": "known",
            "COMMENTD_PUBLIC_URL": "https://comments.example/",
            "COMMENTD_SECRET_KEY": GOOD_SECRET,
        }
    )

    assert settings.allowed_origins == ("https://blog.example", "https://www.blog.example")
    assert settings.moderation is ModerationMode.KNOWN
    assert settings.public_url == "https://comments.example"
    assert settings.serving_at("127.0.0.1", 8080).public_url == "https://comments.example"
    assert settings.uses_shared_rate_limit_storage
    assert (settings.hold_links, settings.trusted_proxies, settings.min_fill_seconds) == (0, 1, 5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COMMENTD_MODERATION", "sometimes"),
        ("COMMENTD_POST_RATE_LIMIT", "lots"),
        ("COMMENTD_TRUSTED_PROXIES", "-1"),
        ("COMMENTD_HOLD_LINKS", "two"),
        ("COMMENTD_NOTIFY_APPROVED", "ture"),
        ("COMMENTD_CHECK_EMAIL_DELIVERABILITY", "enabled"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_in_process_limits_mean_one_process_and_shared_ones_allow_several() -> None:
    assert worker_plan(Settings(), cpus=2) == (2, 4)  # memory://: a shared counters file
    assert worker_plan(Settings(), cpus=1) == (1, 4)
    assert worker_plan(Settings(ratelimit_storage_uri="redis://127.0.0.1:6379"), cpus=2)[0] >= 2


# --- settings that are accepted today but cannot work (issue 12) ---------------------------


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize(
    "weak",
    [
        "a",
        "s3cret",
        "change-me",
        "x" * 40,  # long, but one character
        "abcabcabcabcabcabcabcabcabc",  # long, but three characters
        "0123456789abcdefghijklm",  # 23 characters: one short
    ],
)
def test_a_weak_secret_is_refused_by_name_with_how_to_make_one(name: str, weak: str) -> None:
    env = {name: weak}
    if name == "COMMENTD_WEBHOOK_SECRET":
        env["COMMENTD_WEBHOOK_URLS"] = "https://ci.example/hook"

    with pytest.raises(ConfigError, match=name) as refused:
        Settings.from_env(env)

    assert "secrets.token_urlsafe(32)" in str(refused.value)
    assert repr(weak) not in str(refused.value)  # a secret is never echoed, even a weak one


@pytest.mark.parametrize(
    "strong",
    [
        GOOD_SECRET,
        "test-admin-token-0123456789",
        "3f9a1c7e5b2d8046af13c9e7",
        "correct horse battery st",
    ],
)
def test_a_strong_secret_is_accepted_for_every_secret_setting(strong: str) -> None:
    settings = Settings.from_env(
        {name: strong for name in SECRETS} | {"COMMENTD_WEBHOOK_URLS": "https://ci.example/h"}
    )

    assert (settings.admin_token, settings.secret_key, settings.webhook_secret) == (strong,) * 3
    assert check_secret("COMMENTD_ANY_TOKEN", strong) == strong  # reusable for new secrets


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://Blog.example/", "https://blog.example"),
        ("https://blog.example:443", "https://blog.example"),  # as browsers send it
        ("http://blog.example:80", "http://blog.example"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_an_origin_is_kept_as_a_browser_sends_it(given: str, origin: str) -> None:
    settings = Settings.from_env({"COMMENTD_ALLOWED_ORIGINS": f"{given}, https://b.example"})

    assert settings.allowed_origins == (origin, "https://b.example")


@pytest.mark.parametrize(
    "value",
    [
        "127.0.0.1:8000",
        "blog.example",
        "*",
        "https://*.blog.example",
        "https://blog.example/posts/",
        "https://blog.example/?from=x",
        "https://blog.example#comments",
        "ftp://blog.example",
        "https://",
        "https://dana@blog.example",
        "http://[::1",
        "https://blog.example:99999",
    ],
)
def test_an_allowed_origin_that_is_no_origin_is_refused_by_name(value: str) -> None:
    with pytest.raises(ConfigError, match="COMMENTD_ALLOWED_ORIGINS") as refused:
        Settings.from_env({"COMMENTD_ALLOWED_ORIGINS": f"https://ok.example,{value}"})

    assert "scheme://host[:port], e.g. https://blog.example" in str(refused.value)


@pytest.mark.parametrize(
    "given",
    [
        "postgres://commentd:pw@db:5432/commentd",
        "postgresql://commentd:pw@db:5432/commentd",
        "postgresql+psycopg://commentd:pw@db:5432/commentd",
    ],
)
def test_libpq_spellings_of_a_postgresql_url_use_the_installed_driver(given: str) -> None:
    settings = Settings.from_env({"COMMENTD_DATABASE_URL": given})

    assert settings.database_url == "postgresql+psycopg://commentd:pw@db:5432/commentd"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("commentd.db", "not a database URL"),
        ("postgresql+psycopg2://u@db/commentd", "'psycopg2', which is not installed"),
        ("mysql://u@db/commentd", "which is not installed"),
        ("oracle+nonsense://u@db/x", "unknown database"),
        ("mongodb://db/commentd", "unknown database"),
    ],
)
def test_an_unusable_database_url_is_refused_by_name(value: str, says: str) -> None:
    with pytest.raises(ConfigError, match="COMMENTD_DATABASE_URL") as refused:
        Settings.from_env({"COMMENTD_DATABASE_URL": value})

    assert says in str(refused.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"COMMENTD_NOTIFY_EMAIL": "me@blog.example"}, "COMMENTD_SMTP_URL"),
        ({"COMMENTD_NOTIFY_APPROVED": "1"}, "COMMENTD_NOTIFY_EMAIL"),
        ({"COMMENTD_NOTIFY_DIGEST_MINUTES": "30"}, "COMMENTD_NOTIFY_EMAIL"),
        (
            {"COMMENTD_SMTP_URL": "smtp://127.0.0.1:25", "COMMENTD_NOTIFY_EMAIL": "me"},
            "COMMENTD_NOTIFY_EMAIL",
        ),
        ({"COMMENTD_MAIL_FROM": "blog at example"}, "COMMENTD_MAIL_FROM"),
        ({"COMMENTD_PUBLIC_URL": "comments.example.org"}, "COMMENTD_PUBLIC_URL"),
        ({"COMMENTD_PUBLIC_URL": "https://comments.example.org/?a=1"}, "COMMENTD_PUBLIC_URL"),
        ({"COMMENTD_RATELIMIT_STORAGE_URI": "127.0.0.1:6379"}, "COMMENTD_RATELIMIT_STORAGE_URI"),
        ({"COMMENTD_RATELIMIT_STORAGE_URI": "async+redis://r"}, "COMMENTD_RATELIMIT_STORAGE_URI"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_naming_what_to_set(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_mail_settings_that_can_work_are_accepted() -> None:
    settings = Settings.from_env(
        {
            "COMMENTD_SMTP_URL": "smtp://127.0.0.1:25",
            "COMMENTD_NOTIFY_EMAIL": "me@blog.example",
            "COMMENTD_NOTIFY_APPROVED": "1",
            "COMMENTD_MAIL_FROM": "The Blog <noreply@blog.example>",
        }
    )

    assert settings.notify_email == "me@blog.example"
    assert settings.mail_sender == "The Blog <noreply@blog.example>"


@pytest.mark.parametrize(
    ("word", "flag"),
    [
        *[("1", True), ("TRUE", True), (" yes ", True), ("On", True)],
        *[("0", False), ("false", False), ("No", False), ("off", False), ("", False)],
        *[("ture", None), ("2", None), ("enabled", None), ("y", None)],
    ],
)
def test_one_reading_of_yes_and_no(word: str, flag: bool | None) -> None:
    assert parse_flag(word) is flag


@pytest.mark.parametrize("word", ["1", "True", "yes", "ON"])
def test_a_yes_word_turns_a_flag_on(word: str) -> None:
    settings = Settings.from_env({"COMMENTD_CHECK_EMAIL_DELIVERABILITY": word})
    assert settings.check_email_deliverability
