#!/usr/bin/env bash
# `make run`: infrastructure up, then the three services in the background of this terminal.
# Ctrl-C stops the services gracefully; `make stop` also stops Kafka and PostgreSQL.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICES=(intake:8001 router:8002 notifier:8003)

# stop_services STATUS: Ctrl-C is a normal end (0); a failure keeps its status for make.
stop_services() {
  local status=$1
  trap - INT TERM EXIT
  echo
  for entry in "${SERVICES[@]}"; do stop_pid "${entry%%:*}" "$RUN/${entry%%:*}.pid" 30; done
  say "services stopped; Kafka and PostgreSQL are still up (make stop stops them)"
  exit "$status"
}

wait_ready() {
  local name=$1 port=$2
  for _ in $(seq 600); do
    # Its own process first: another server on the port must not pass for it.
    is_running "$RUN/$name.pid" || { tail -20 "$LOGS/$name.log" >&2; fail "$name exited; see $LOGS/$name.log"; }
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    sleep 0.1
  done
  fail "$name was not ready within 60s; see $LOGS/$name.log"
}

# A demo partner key and a responder token, so the README's examples work as they are.
demo_credentials() {
  local key_file=$STATE/demo-partner.key admin_log=$LOGS/admin.log
  if [ ! -s "$key_file" ]; then
    { "$VENV/bin/python" -m services.intake partner create demo --reporter-type trusted_flagger 2>>"$admin_log" \
        || "$VENV/bin/python" -m services.intake partner rotate-key demo 2>>"$admin_log"; } \
      | sed -n 's/^api_key: //p' >"$key_file" || true  # the check below says why
    [ -s "$key_file" ] || fail "could not create the demo partner; see $admin_log"
  fi
  "$VENV/bin/python" -m services.router token mint demo-lead --role lead 2>>"$admin_log" \
    >"$STATE/demo-responder.token" || fail "could not mint a responder token; see $admin_log"
}

"$ROOT/deploy/local/up.sh"
demo_credentials
for entry in "${SERVICES[@]}"; do
  name=${entry%%:*} port=${entry##*:}
  if is_running "$RUN/$name.pid"; then fail "$name is already running (pid $(pid_of "$RUN/$name.pid")); make stop first"; fi
  if port_open 127.0.0.1 "$port"; then fail "port $port ($name) is taken by a process this script did not start"; fi
done
trap 'stop_services 0' INT TERM
trap 'stop_services $?' EXIT
for entry in "${SERVICES[@]}"; do
  name=${entry%%:*} port=${entry##*:}
  FLARE_PORT=$port "$VENV/bin/python" -m "services.$name" serve >>"$LOGS/$name.log" 2>&1 &
  record_pid $! "$RUN/$name.pid"
done
for entry in "${SERVICES[@]}"; do wait_ready "${entry%%:*}" "${entry##*:}"; done

cat <<INFO

Flare is up.
  intake    http://127.0.0.1:8001   (partner API; docs at http://127.0.0.1:8001/docs)
  router    http://127.0.0.1:8002   (docs at http://127.0.0.1:8002/docs)
  notifier  http://127.0.0.1:8003   (live alerts: ws://127.0.0.1:8003/v1/ws)
  Kafka     127.0.0.1:${FLARE_KAFKA_PORT:-9092}      PostgreSQL 127.0.0.1:${FLARE_PG_PORT:-5432} (db flare, user flare)
  console   http://127.0.0.1:8003/   (sign in with the responder token below)
  logs      $LOGS/

  demo partner key:  $STATE/demo-partner.key
  responder token:   $STATE/demo-responder.token  (lead role, 12 h: console, cases API, streams)
INFO
# The admin commands read these variables, not the ports: elsewhere than the defaults, say so.
if [ "$FLARE_DATABASE_URL" != postgresql://flare:flare@127.0.0.1:5432/flare ] ||
  [ "$FLARE_KAFKA_BOOTSTRAP_SERVERS" != 127.0.0.1:9092 ]; then
  echo "For the admin commands (python -m services.<name> ..., python -m shared.kafka_admin ...)"
  echo "in another shell, first:"
  printf '  export FLARE_DATABASE_URL=%q FLARE_KAFKA_BOOTSTRAP_SERVERS=%q\n' \
    "$FLARE_DATABASE_URL" "$FLARE_KAFKA_BOOTSTRAP_SERVERS"
fi
echo "Press Ctrl-C to stop the services."
# The first service to exit ends the run, with its status (Ctrl-C ends it with 0).
wait -n
