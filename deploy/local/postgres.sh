#!/usr/bin/env bash
# Local PostgreSQL 15 from Debian's packages, in a project-local cluster: postgres.sh start|stop|status.
# Installs the server when missing, creates the cluster once, the role and database once.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT=${FLARE_PG_PORT:-5432}
PG_BIN=/usr/lib/postgresql/15/bin
DB_USER=${FLARE_PG_USER:-flare}
DB_PASSWORD=${FLARE_PG_PASSWORD:-flare}
DB_NAME=${FLARE_PG_DATABASE:-flare}

# The server refuses to run as root, so as root it runs as the `postgres` user (made by the
# package), which must be able to reach its data directory. If it cannot reach .local/ (say,
# the clone sits under /root), the cluster lives under /var/tmp instead, named after this
# checkout. Called once the package is installed, so the answer never changes between runs.
resolve_paths() {
  HOME_DIR=$STATE/postgres
  if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$HOME_DIR"
    runuser -u postgres -- test -x "$HOME_DIR" \
      || HOME_DIR=/var/tmp/flare-postgres-$(echo "$ROOT" | sha256sum | cut -c1-12)
  fi
  PGDATA=$HOME_DIR/data
  # A short path without spaces, whatever the checkout's: a Unix socket's path has a limit of
  # 107 bytes, and pg_ctl hands its options to a shell. (PostgreSQL touches its socket hourly,
  # so /tmp's cleaners leave it alone.)
  SOCKET_DIR=/tmp/flare-pg-$(printf '%s' "$PGDATA" | sha256sum | cut -c1-12)
  LOG=$HOME_DIR/postgres.log
}

# True when the server package is there and this checkout's cluster exists.
have_cluster() { [ -x "$PG_BIN/pg_ctl" ] && id postgres >/dev/null 2>&1 && resolve_paths && [ -f "$PGDATA/PG_VERSION" ]; }

as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
superuser_psql() { as_owner "$PG_BIN/psql" -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

# The socket directory, made private to the server's user; refused when someone else made it
# first (/tmp is shared: their socket could stand in for ours).
socket_dir_of_ours() {
  local owner=postgres
  [ "$(id -u)" -eq 0 ] || owner=$(id -un)
  mkdir -p -m 700 "$SOCKET_DIR"
  [ "$(id -u)" -ne 0 ] || [ "$(stat -c %u "$SOCKET_DIR")" -ne 0 ] || chown postgres:postgres "$SOCKET_DIR"
  [ "$(stat -c %U "$SOCKET_DIR")" = "$owner" ] \
    || fail "$SOCKET_DIR belongs to $(stat -c %U "$SOCKET_DIR"), not $owner; remove it"
  chmod 700 "$SOCKET_DIR"
}

install_server() {
  [ -x "$PG_BIN/postgres" ] && return 0
  [ "$(id -u)" -eq 0 ] || fail "PostgreSQL 15 is not installed; run as root, or: sudo apt-get install postgresql-15 && sudo pg_dropcluster --stop 15 main (Debian's own cluster would take port 5432)"
  say "installing PostgreSQL 15 from Debian's packages -> $LOGS/apt.log"
  # Flare runs its own cluster: the package must neither create a system cluster on 5432
  # nor start one (policy-rc.d exit 101 = "do not start services", only while we install).
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/flare.conf
  local policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    policy_added=yes
  fi
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      -o Dpkg::Options::=--force-confold postgresql-15; } >"$LOGS/apt.log" 2>&1 \
    || { [ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d; fail "apt-get could not install postgresql-15; see $LOGS/apt.log"; }
  [ -n "$policy_added" ] && rm -f /usr/sbin/policy-rc.d
  [ -x "$PG_BIN/postgres" ] || fail "postgresql-15 installed but $PG_BIN/postgres is missing; see $LOGS/apt.log"
}

init_cluster() {
  [ -f "$PGDATA/PG_VERSION" ] && return 0
  say "creating a PostgreSQL cluster in $PGDATA"
  mkdir -p "$HOME_DIR"
  [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$HOME_DIR"
  as_owner "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1 \
    || fail "initdb failed; see $LOGS/initdb.log"
}

create_role_and_database() {
  if [ -z "$(superuser_psql -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" ]; then
    superuser_psql -c "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB PASSWORD '$DB_PASSWORD'"
  fi
  # Tests drop their databases WITH (FORCE), which must end an autovacuum worker that happens
  # to be in one: that takes pg_signal_backend (a local development cluster only).
  if [ "$(superuser_psql -c "SELECT pg_has_role('$DB_USER', 'pg_signal_backend', 'member')")" != t ]; then
    superuser_psql -c "GRANT pg_signal_backend TO \"$DB_USER\""
  fi
  if [ -z "$(superuser_psql -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]; then
    superuser_psql -c "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_USER\""
  fi
}

start() {
  install_server
  resolve_paths
  init_cluster
  if as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    say "PostgreSQL already running on 127.0.0.1:$PORT ($PGDATA)"
  else
    port_open 127.0.0.1 "$PORT" && fail "port $PORT is taken by a process this script did not start"
    say "starting PostgreSQL on 127.0.0.1:$PORT (log: $LOG)"
    socket_dir_of_ours
    as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$LOG" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$SOCKET_DIR -c max_connections=200" \
        start >/dev/null || fail "PostgreSQL did not start; see $LOG"
  fi
  # The socket of the server running, wherever it was started (an older checkout put it in
  # the data's directory): postmaster.pid's fifth line, once the server has written it.
  local running_socket
  running_socket=$(sed -n 5p "$PGDATA/postmaster.pid" 2>/dev/null || true)
  SOCKET_DIR=${running_socket:-$SOCKET_DIR}
  create_role_and_database
  say "PostgreSQL is up: postgresql://$DB_USER@127.0.0.1:$PORT/$DB_NAME"
}

stop() {
  if have_cluster && as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null && say "PostgreSQL stopped"
  else
    say "PostgreSQL is not running"
  fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) have_cluster && as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" status ;;
  clean) stop; if have_cluster; then rm -rf "$HOME_DIR"; fi ;;
  *) echo "usage: $0 start|stop|status|clean" >&2; exit 2 ;;
esac
