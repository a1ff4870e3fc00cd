"""Partner API keys: made from 256 random bits, shown once, stored only as a SHA-256 hash."""

import hashlib
import re
import secrets

KEY_PREFIX = "flare_"
# What new_api_key makes: 32 random bytes are 43 characters of URL-safe base64.
KEY_FORMAT = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]{43}")


def new_api_key() -> str:
    # A recognisable prefix lets secret scanners find leaked keys.
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """A fast hash is enough: the key is random, so there is nothing to guess from the hash."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
