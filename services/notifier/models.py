"""notifier's tables, in the `notifier` schema (deliveries and escalation timers will live here)."""

from sqlalchemy import MetaData

metadata = MetaData(schema="notifier")
