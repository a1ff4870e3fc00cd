"""Flare's plumbing shared by the three services: settings, events, Kafka, database, HTTP."""
