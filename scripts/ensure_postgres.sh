#!/usr/bin/env bash
# Make sure a PostgreSQL answers on 127.0.0.1:5432 and lets the `postgres` role in
# over TCP without a password (trust auth), for local test runs only. Debian/Ubuntu.
# Safe to run repeatedly: does nothing when a server already answers.
set -euo pipefail

HOST=127.0.0.1
# Overridable only to exercise this script without touching the real 5432 cluster.
PORT="${ENSURE_PG_PORT:-5432}"
HBA_LINE="host all all 127.0.0.1/32 trust"

log() { echo "ensure_postgres: $*" >&2; }
die() { log "$*"; exit 1; }

is_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p "$PORT"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()' \
      "$HOST" "$PORT" 2>/dev/null
  else
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $* (not root and no sudo). Install/start PostgreSQL yourself, or set MEDIA_PIPELINE_TEST_PG_URL."
  fi
}

if is_up; then
  exit 0
fi

# 1. Binaries (Debian's postgresql-common layout: /usr/lib/postgresql/<version>/bin).
newest_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }
VERSION="$(newest_version)"
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$VERSION" ] \
    || [ ! -x "/usr/lib/postgresql/$VERSION/bin/postgres" ]; then
  command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL is not installed and apt-get is unavailable; install PostgreSQL and listen on $HOST:$PORT."
  log "installing PostgreSQL with apt-get"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
  VERSION="$(newest_version)"
  [ -n "$VERSION" ] || die "apt-get installed postgresql but no /usr/lib/postgresql/<version> exists"
fi

# 2. A cluster on our port. pg_lsclusters -h columns: version name port status owner ...
read -r CL_VERSION CL_NAME CL_STATUS < <(
  pg_lsclusters -h 2>/dev/null | awk -v port="$PORT" '$3 == port { print $1, $2, $4; exit }'
) || true
if [ -z "${CL_NAME:-}" ]; then
  CL_VERSION="$VERSION"
  CL_NAME=main
  # `main` may exist already on another port (something else held 5432 at install time).
  if [ -d "/etc/postgresql/$VERSION/main" ]; then CL_NAME=mpd_test; fi
  log "creating cluster $CL_VERSION/$CL_NAME on port $PORT"
  as_root pg_createcluster --port "$PORT" "$CL_VERSION" "$CL_NAME"
  CL_STATUS=down
fi

# 3. Trust auth on 127.0.0.1. pg_hba.conf is first-match, so the line goes on top,
#    ahead of Debian's default "host all all 127.0.0.1/32 scram-sha-256".
HBA="/etc/postgresql/$CL_VERSION/$CL_NAME/pg_hba.conf"
HBA_CHANGED=no
if ! as_root grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$HBA"; then
  log "adding '$HBA_LINE' to $HBA"
  as_root sed -i "1i # Added by scripts/ensure_postgres.sh: passwordless local test access.\n$HBA_LINE" "$HBA"
  HBA_CHANGED=yes
fi

# 4. Start it (or reload it so a changed pg_hba.conf takes effect).
case "$CL_STATUS" in
  online*)
    if [ "$HBA_CHANGED" = yes ]; then
      as_root pg_ctlcluster --skip-systemctl-redirect "$CL_VERSION" "$CL_NAME" reload
    fi
    ;;
  *)
    log "starting cluster $CL_VERSION/$CL_NAME"
    as_root pg_ctlcluster --skip-systemctl-redirect "$CL_VERSION" "$CL_NAME" start
    ;;
esac

for _ in $(seq 1 60); do
  if is_up; then
    log "PostgreSQL $CL_VERSION/$CL_NAME is ready on $HOST:$PORT"
    exit 0
  fi
  sleep 0.5
done
die "cluster $CL_VERSION/$CL_NAME did not become ready on $HOST:$PORT; see /var/log/postgresql/postgresql-$CL_VERSION-$CL_NAME.log"
