#!/usr/bin/env bash
# The Celery fleet tests start their own redis-server on a free port; this makes sure the
# binary exists, and that a Redis answers on 127.0.0.1:6379 for a local fleet (docs/deployment.md).
set -euo pipefail
if ! command -v redis-server >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "error: redis-server is missing; install it (sudo apt-get install redis-server)" >&2
    exit 1
  fi
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi
