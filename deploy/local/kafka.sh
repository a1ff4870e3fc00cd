#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) from the official jars: kafka.sh start|stop|status.
# Idempotent: start reuses a running broker; the jars are fetched and the storage formatted once.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT=${FLARE_KAFKA_PORT:-9092}
CONTROLLER_PORT=${FLARE_KAFKA_CONTROLLER_PORT:-9093}
# The port clients are told to connect to: another one puts a proxy in between (chaos tests).
ADVERTISED_PORT=${FLARE_KAFKA_ADVERTISED_PORT:-$PORT}
# A file of properties appended to kafka.properties, whose own it overrides, with the same
# @...@ filled in (a test's broker that also listens with TLS or a login).
EXTRA_CONFIG=${FLARE_KAFKA_EXTRA_CONFIG:-/dev/null}
HOME_DIR=$STATE/kafka
# A disposable broker (tests on other ports) may reuse jars already fetched elsewhere.
LIBS=${FLARE_KAFKA_LIBS:-$HOME_DIR/libs}
DATA=$HOME_DIR/data
CONFIG=$HOME_DIR/server.properties
LOG=$LOGS/kafka.log
PIDFILE=$RUN/kafka.pid
POM=$ROOT/deploy/local/pom.xml
CLASSPATH_GLOB="$LIBS/*"

fetch_jars() {
  # The marker holds the pom's checksum, so a version bump in pom.xml fetches again.
  local want; want=$(sha256sum "$POM" | cut -d' ' -f1)
  if [ "$(cat "$LIBS/.fetched" 2>/dev/null)" = "$want" ]; then return 0; fi
  say "fetching the Kafka jars with Maven (first run only) -> $LOGS/maven.log"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -B -q -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$LIBS" >"$LOGS/maven.log" 2>&1 \
    || fail "Maven could not fetch the Kafka jars; see $LOGS/maven.log"
  echo "$want" >"$LIBS/.fetched"
}

write_config() {
  mkdir -p "$DATA"
  cat "$ROOT/deploy/local/kafka.properties" "$EXTRA_CONFIG" \
    | sed -e "s#@DATA_DIR@#$DATA#" -e "s#@PORT@#$PORT#g" \
      -e "s#@ADVERTISED_PORT@#$ADVERTISED_PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
      >"$CONFIG"
}

format_storage() {
  [ -f "$DATA/meta.properties" ] && return 0
  local cluster_id
  cluster_id=$(java -cp "$CLASSPATH_GLOB" kafka.tools.StorageTool random-uuid 2>>"$LOG") \
    || fail "could not make a Kafka cluster id; see $LOG"
  say "formatting Kafka storage in $DATA (cluster $cluster_id)"
  java -cp "$CLASSPATH_GLOB" kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" >>"$LOG" 2>&1 \
    || fail "could not format Kafka storage; see $LOG"
}

start() {
  if is_running "$PIDFILE"; then say "Kafka already running (pid $(pid_of "$PIDFILE")) on 127.0.0.1:$PORT"; return 0; fi
  port_open 127.0.0.1 "$PORT" && fail "port $PORT is taken by a process this script did not start"
  command -v java >/dev/null || fail "java is not installed (Kafka needs Java 17)"
  command -v mvn >/dev/null || fail "mvn is not installed (it fetches the Kafka jars)"
  fetch_jars
  write_config
  format_storage
  say "starting Kafka on 127.0.0.1:$PORT (log: $LOG)"
  nohup java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$ROOT/deploy/local/log4j.properties" \
    -Dkafka.logs.dir="$LOGS" \
    -cp "$CLASSPATH_GLOB" kafka.Kafka "$CONFIG" >>"$LOG" 2>&1 </dev/null &
  record_pid $! "$PIDFILE"
  if ! "$VENV/bin/python" -m shared.kafka_admin --bootstrap "127.0.0.1:$PORT" wait --timeout 90; then
    is_running "$PIDFILE" || rm -f "$PIDFILE"
    fail "Kafka did not answer a metadata request on 127.0.0.1:$PORT; see $LOG"
  fi
  say "Kafka is up on 127.0.0.1:$PORT"
}

case ${1:-} in
  start) start ;;
  stop) stop_pid Kafka "$PIDFILE" 60 ;;
  status) if is_running "$PIDFILE"; then say "Kafka running (pid $(pid_of "$PIDFILE"))"; else say "Kafka stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
