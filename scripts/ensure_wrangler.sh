#!/usr/bin/env bash
# Installs Cloudflare's wrangler CLI (from npm) under the venv, for the tests that prove the
# local D1 file is the one `wrangler d1 execute --local` reads and that `wrangler d1 migrations
# apply --local` agrees with what the project recorded. Cached: a second call does nothing.
# About 20 s and 200 MB the first time; needs Node.js >= 20.3 and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${WRANGLER_VERSION:-4.86.0}"  # pinned: wrangler's local layout is what the tests check
prefix="${WRANGLER_PREFIX:-.venv/wrangler}"
if [ -x "$prefix/node_modules/.bin/wrangler" ] && [ "$(cat "$prefix/.version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "error: installing wrangler needs Node.js >= 20.3 and npm on PATH" >&2
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 3) ? 0 : 1)'; then
  echo "error: wrangler 4 needs Node.js >= 20.3, found $(node --version)" >&2
  exit 1
fi
mkdir -p "$prefix"
log="$(mktemp)"
# No install scripts are needed: workerd's binary comes as its own platform package.
if ! npm install --prefix "$prefix" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
     "wrangler@$version" >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "error: npm install wrangler@$version failed (output above)" >&2
  exit 1
fi
rm -f "$log"
echo "$version" >"$prefix/.version"
