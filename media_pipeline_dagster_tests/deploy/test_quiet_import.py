"""Every Dagster process (code server, daemon, webserver, Celery workers) imports the
definitions; nothing may be printed on each import or each sensor tick."""

from __future__ import annotations

import subprocess
import sys

LOAD = "import media_pipeline_dagster.definitions as d; d.defs().get_repository_def().asset_graph"


def test_loading_the_definitions_prints_no_warning(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }  # no PYTHONWARNINGS, no .env: a fresh process
    for flags in (
        [],
        ["-W", "default"],
    ):  # as the daemon runs it, and with every warning shown once
        done = subprocess.run(
            [sys.executable, *flags, "-c", LOAD],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", done.stderr
