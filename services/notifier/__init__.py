"""notifier: fans case events out to responders (live streams today)."""
