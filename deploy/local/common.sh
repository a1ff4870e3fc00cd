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

# A pid file holds the pid and the process's start time (clock ticks since boot, from
# /proc/PID/stat): after a reboot a stale file's pid may name an unrelated process, which the
# start time tells apart, so `make stop` never signals it.
started_at() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# record_pid PID PIDFILE
record_pid() { echo "$1 $(started_at "$1")" >"$2"; }

# pid_of PIDFILE: the pid it records.
pid_of() { cut -d' ' -f1 "$1"; }

# is_running PIDFILE: true when PIDFILE names a live process, the one it was written for (a
# file of an older checkout holds the pid alone, and is trusted as it was then).
is_running() {
  local pid start
  [ -f "$1" ] && { read -r pid start || [ -n "${pid:-}" ]; } <"$1" && kill -0 "$pid" 2>/dev/null \
    && { [ -z "$start" ] || [ "$(started_at "$pid")" = "$start" ]; }
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# stop_pid NAME PIDFILE [SECONDS]: SIGTERM, wait, then SIGKILL as a last resort.
stop_pid() {
  local name=$1 pidfile=$2 wait_s=${3:-30} pid
  if ! is_running "$pidfile"; then rm -f "$pidfile"; say "$name is not running"; return 0; fi
  pid=$(pid_of "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq $((wait_s * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then say "$name did not stop in ${wait_s}s; killing it"; kill -KILL "$pid"; fi
  rm -f "$pidfile"
  say "$name stopped"
}
