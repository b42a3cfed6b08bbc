"""What a `commentd serve` worker carries (issue 19: ≤ 80 MB per worker process).

The workers are forked from `commentd serve`'s process after create_app, so every module that
process imported is resident in each of them. The importer, the readers, the exporters, the
backup and tqdm serve only their own commands and requests; they are imported there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from commentd.portability import FORMATS
from commentd.portability.readers import READERS

# The modules `commentd serve` must not have imported by the time it forks its workers.
NOT_IN_A_WORKER = [
    "commentd.portability.importing",
    "commentd.portability.exporting",
    "commentd.portability.readers",
    "commentd.ops.backup",
    "tqdm",
    "sqlalchemy.dialects.postgresql",  # on SQLite, as here
    "redis",  # with the embedded limits, as here (web/limits.py: 4 MB)
]


def test_serving_imports_no_importer_exporter_or_cli_only_module(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "import commentd.ops.cli, commentd.ops.server\n"
        "from commentd.web.app import create_app\n"
        "create_app()\n"
        f"print(json.dumps([m for m in {NOT_IN_A_WORKER!r} if m in sys.modules]))\n"
    )
    env = os.environ | {
        "COMMENTD_DATABASE_URL": f"sqlite:///{tmp_path}/m.db",
        "COMMENTD_PUBLIC_URL": "https://comments.example",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    subprocess.run(
        [sys.executable, "-m", "commentd.ops.cli", "migrate"],
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out.splitlines()[-1]) == []


def test_formats_name_every_reader() -> None:
    assert tuple(sorted(READERS)) == FORMATS
