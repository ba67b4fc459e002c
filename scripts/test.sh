#!/usr/bin/env bash
# scripts/test.sh — the project's test command (`make test`).
#
# Starts an ephemeral Redis and Postgres on free loopback ports in a temp
# directory, exports their URLs for the integration tests, runs go vet and
# go test -race over the whole module, then the Helm chart checks, and always
# tears the servers down. Installs redis-server/postgresql with apt-get when
# they are missing and we run as root; otherwise says what to install.
#
# Environment it exports to the tests:
#   HOOKFLASH_TEST_REDIS_URL     redis://127.0.0.1:PORT/0
#   HOOKFLASH_TEST_DATABASE_URL  postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
#   HOOKFLASH_TEST_REDIS_SERVER  path of redis-server (tests that start their own)
#   HOOKFLASH_TEST_PG_BIN        Postgres bin dir (tests that start their own)
# Knobs: GO_TEST_FLAGS (extra flags), TEST_PKGS (default ./...), SKIP_HELM=1.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
command -v go >/dev/null || die "Go is not installed: get Go 1.26+ from your package manager or https://go.dev/dl"

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    die "$1 is missing and we are not root: install it (Debian: apt-get install $2) and re-run"
  fi
  say "installing $2 (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq $2 >/dev/null
}

command -v redis-server >/dev/null || apt_install redis-server redis-server
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
PG_BIN=$(pg_bin || true)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  apt_install "Postgres (initdb)" "postgresql"
  PG_BIN=$(pg_bin)
fi
[ -x "$PG_BIN/initdb" ] || die "no initdb under /usr/lib/postgresql/*/bin"

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( (RANDOM % 12000) + 20000 ))  # below the ephemeral range
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free port found"
}

WORK=$(mktemp -d /tmp/hookflash-test.XXXXXX)
chmod 755 "$WORK"
REDIS_PORT=$(free_port)
PG_PORT=$(free_port)
while [ "$PG_PORT" = "$REDIS_PORT" ]; do PG_PORT=$(free_port); done

cleanup() {
  local rc=$?
  say "stopping test Redis and Postgres"
  if [ -f "$WORK/redis.pid" ]; then kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true; fi
  if [ -d "$WORK/pg" ]; then as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

say "starting Redis on 127.0.0.1:$REDIS_PORT"
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$WORK/redis" --daemonize yes --pidfile "$WORK/redis.pid" \
  --logfile "$WORK/redis/redis.log" --maxclients 20000 >/dev/null

say "starting Postgres on 127.0.0.1:$PG_PORT"
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
  mkdir -p "$WORK/pg" "$WORK/pgsock"; chown postgres "$WORK/pg" "$WORK/pgsock"
else
  mkdir -p "$WORK/pg" "$WORK/pgsock"
fi
as_pg "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres --no-sync >"$WORK/initdb.log" 2>&1 \
  || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pgsock/pg.log" -w -t 60 \
  -o "-p $PG_PORT -k $WORK/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
  start >/dev/null || { cat "$WORK/pgsock/pg.log" >&2; die "Postgres did not start"; }

export HOOKFLASH_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export HOOKFLASH_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
export HOOKFLASH_TEST_REDIS_SERVER="$(command -v redis-server)"
export HOOKFLASH_TEST_PG_BIN="$PG_BIN"

say "go vet ./..."
go vet ./...

say "go test -race ${TEST_PKGS:-./...}"
# shellcheck disable=SC2086
go test -race -count=1 -timeout 20m ${GO_TEST_FLAGS:-} ${TEST_PKGS:-./...}

if [ -z "${SKIP_HELM:-}" ] && [ -x scripts/helm-check.sh ]; then
  say "helm chart checks"
  scripts/helm-check.sh
fi
say "all tests passed"
