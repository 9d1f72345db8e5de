#!/usr/bin/env bash
# The gate that CI enforces before the tests: ruff (lint and format), mypy on the product
# package, and import-linter's layer contracts (docs/architecture.md). Run it alone with
# `bash scripts/gate.sh`; `.venv/bin/ruff format .` fixes the formatting it reports.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
echo "gate: ruff check and format passed"
.venv/bin/mypy --no-error-summary
echo "gate: mypy passed"
# the package from this checkout, whatever .venv was installed from
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" .venv/bin/lint-imports --no-cache > .import-linter.log || { cat .import-linter.log; exit 1; }
echo "gate: import layers kept"
