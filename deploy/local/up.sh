#!/usr/bin/env bash
# Brings up what the services need: PostgreSQL, Kafka, the topics and every service's schema.
# Idempotent: whatever is already up is reused.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$ROOT/deploy/local/postgres.sh" start
"$ROOT/deploy/local/kafka.sh" start
"$VENV/bin/python" -m shared.kafka_admin --bootstrap "$FLARE_KAFKA_BOOTSTRAP_SERVERS" \
  create-topics --prefix "${FLARE_TOPIC_PREFIX:-}" || fail "could not create the Kafka topics"
for service in intake router notifier; do
  "$VENV/bin/python" -m "services.$service" migrate >"$LOGS/migrate-$service.log" 2>&1 \
    || fail "migrating the $service schema failed; see $LOGS/migrate-$service.log"
done
say "schemas migrated: intake, router, notifier"
