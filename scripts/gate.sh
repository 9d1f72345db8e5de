#!/usr/bin/env bash
# The gate that CI enforces before the tests: ruff (lint and format). Run it alone with
# `bash scripts/gate.sh`; `.venv/bin/ruff format .` fixes the formatting it reports.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
echo "gate: ruff check and format passed"
