#!/usr/bin/env bash
# `make stop`: stops everything the local scripts started: services, Kafka, PostgreSQL.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

for name in intake router notifier; do stop_pid "$name" "$RUN/$name.pid" 30; done
"$ROOT/deploy/local/kafka.sh" stop
"$ROOT/deploy/local/postgres.sh" stop
