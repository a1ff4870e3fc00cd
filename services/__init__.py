"""Flare's services: intake, router and notifier."""
