"""Which failures are our infrastructure's (retry, answer 503) and which are bugs or bad data."""

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, OperationalError


def is_transient(error: BaseException) -> bool:
    """A database, broker or network that is down or slow: worth retrying, never a reason to
    dead-letter a message or to blame the caller. (asyncpg raises plain OSError when it
    cannot connect at all.)"""
    if isinstance(error, DBAPIError):
        return isinstance(error, OperationalError) or error.connection_invalidated
    return isinstance(error, OSError | TimeoutError | KafkaError)
