"""router: turns received escalations into cases and owns them."""
