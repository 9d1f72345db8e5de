#!/usr/bin/env bash
# The test command: dependencies, the gate (lint, format, types, import layers), a running
# PostgreSQL and Redis, then pytest (extra args go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
bash scripts/gate.sh
bash scripts/ensure_postgres.sh
bash scripts/ensure_redis.sh
exec .venv/bin/python -m pytest "$@"
