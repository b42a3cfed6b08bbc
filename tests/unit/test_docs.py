"""The documentation stays true to the code: the configuration page is what the generator
prints from Settings, it names every COMMENTD_* variable the service reads, docs/API.md is the
recorded copy of the HTTP contract, and the README stays a short front door."""

from __future__ import annotations

import hashlib
import re
from dataclasses import fields
from pathlib import Path

from commentd.config import Settings, documented_variables
from commentd.ops import config_docs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
VARIABLE = re.compile(r"\bCOMMENTD_[A-Z0-9_]+\b")


def test_the_configuration_page_is_what_the_generator_prints() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")

    assert page == config_docs.render(), f"docs/configuration.md is stale: {config_docs.COMMAND}"


def test_every_commentd_variable_named_in_the_service_is_on_the_configuration_page() -> None:
    named = {
        name
        for path in (ROOT / "service").rglob("*")
        if path.suffix in {".py", ".js", ".html", ".txt"}
        for name in VARIABLE.findall(path.read_text(encoding="utf-8"))
    }
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")

    assert len(named) >= 39
    assert sorted(name for name in named if f"`{name}`" not in page) == []


def test_every_setting_is_documented_once_and_read_by_from_env() -> None:
    variables = documented_variables()  # LookupError for a field without metadata
    names = [variable.name for variable, _default in variables]
    config_source = (ROOT / "service/commentd/config.py").read_text(encoding="utf-8")
    cli_source = (ROOT / "service/commentd/ops/cli.py").read_text(encoding="utf-8")

    assert len(names) == len(set(names)) == len(fields(Settings)) + 1
    assert all(variable.unit and variable.meaning for variable, _default in variables)
    # Each name is read where it is documented: config.py, or the serve command's option.
    assert [n for n in names if f'"{n}"' not in config_source + cli_source] == []


def test_the_configuration_page_shows_the_real_defaults() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    defaults = Settings()

    assert f"| `COMMENTD_POST_RATE_LIMIT` | `{defaults.post_rate_limit}` |" in page
    assert f"| `COMMENTD_SPAM_THRESHOLD` | `{defaults.spam_threshold}` |" in page
    assert "| `COMMENTD_SMTP_URL` | unset (no email) |" in page
    assert "| `COMMENTD_NOTIFY_APPROVED` | off |" in page


def test_docs_api_md_is_the_recorded_copy_of_the_http_contract() -> None:
    copy = (DOCS / "API.md").read_bytes()
    recorded = (DOCS / "API.md.sha256").read_text(encoding="ascii").strip()
    refresh = "refresh both (docs/architecture.md, 'Keeping the docs in step')"

    assert hashlib.sha256(copy).hexdigest() == recorded, f"docs/API.md was edited: {refresh}"
    shared = ROOT.parent / "shared" / "API.md"
    if shared.is_file():  # where the contract's source is at hand, the copy follows it
        assert shared.read_bytes() == copy, f"../shared/API.md changed: {refresh}"


def test_the_readme_is_short_and_its_links_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)

    assert len(readme.encode("utf-8")) < 6 * 1024
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/commentd serve" in readme
    assert "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest" in (
        readme
    )
    assert [t for t in targets if not (ROOT / t).exists()] == []
    assert {p.name for p in DOCS.glob("*.md")} <= {Path(t).name for t in targets} | {"index.md"}
