#!/usr/bin/env bash
# Creates .venv (Python >= 3.11) and installs the project with the given extras, e.g. "dev".
# Shared by scripts/demo.sh and scripts/test.sh so both work on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    # Debian ships venv separately; install it when we may.
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$python" -m venv .venv
    else
      echo "error: '$python -m venv' failed; install the python3-venv package (sudo apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
.venv/bin/python - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"error: Python >= 3.11 is required, .venv has {sys.version.split()[0]}; set PYTHON=python3.11 and remove .venv")
PY
spec="."
[ -n "$extras" ] && spec=".[$extras]"
log="$(mktemp)"
# Quiet unless something fails: the build backend is chatty on stderr.
if ! { .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip \
       && .venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"; } >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "error: installing the project into .venv failed (output above)" >&2
  exit 1
fi
rm -f "$log"
