#!/usr/bin/env bash
# The demo: ingest the shipped sample calls in the local profile (nothing but Python needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh local
MEDIA_PIPELINE_ENV=local exec .venv/bin/python -m media_pipeline_dagster.demo "$@"
