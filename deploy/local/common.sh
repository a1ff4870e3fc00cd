# Shared by the deploy/local scripts: where local state lives and how failures are reported.
# shellcheck shell=bash
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${FLARE_LOCAL_DIR:-$ROOT/.local}
LOGS=$STATE/logs
RUN=$STATE/run
VENV=${FLARE_VENV:-$ROOT/.venv}
mkdir -p "$LOGS" "$RUN"
# What the services and the admin commands connect to: the PostgreSQL and Kafka these scripts
# run, on the ports they were given, unless these two variables name others.
export FLARE_DATABASE_URL=${FLARE_DATABASE_URL:-postgresql://${FLARE_PG_USER:-flare}:${FLARE_PG_PASSWORD:-flare}@127.0.0.1:${FLARE_PG_PORT:-5432}/${FLARE_PG_DATABASE:-flare}}
export FLARE_KAFKA_BOOTSTRAP_SERVERS=${FLARE_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${FLARE_KAFKA_PORT:-9092}}

say() { printf '[flare] %s\n' "$*"; }
fail() { printf '[flare] FAILED: %s\n' "$*" >&2; exit 1; }

# is_running PIDFILE: true when the pid in PIDFILE names a live process.
is_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# stop_pid NAME PIDFILE [SECONDS]: SIGTERM, wait, then SIGKILL as a last resort.
stop_pid() {
  local name=$1 pidfile=$2 wait_s=${3:-30} pid
  if ! is_running "$pidfile"; then rm -f "$pidfile"; say "$name is not running"; return 0; fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq $((wait_s * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then say "$name did not stop in ${wait_s}s; killing it"; kill -KILL "$pid"; fi
  rm -f "$pidfile"
  say "$name stopped"
}
