"""Which failures are our infrastructure's (retry, answer 503) and which are bugs or bad data."""

from aiokafka.errors import KafkaError
from asyncpg import PostgresError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATEs of a server that is going away, coming back or out of something, which asyncpg
# raises as plain errors: a connection exception (08...); insufficient resources (53...: disk
# full, out of memory, too many connections); a system error (58...: I/O); a standby or a
# database made read-only, as after a failover (25006); a statement cancelled, by an
# administrator or a timeout (57014), and an administrator's or a crash's shutdown or "the
# database system is starting up" (57P01-03); and transactions that lost to another one (a
# deadlock 40P01, a serialization failure 40001). Done again once the server is well, each
# succeeds: none is a reason to dead-letter an event or to blame the caller.
TRANSIENT_SQLSTATES = (
    "08",
    "53",
    "58",
    "25006",
    "57014",
    "57P01",
    "57P02",
    "57P03",
    "40P01",
    "40001",
)


def is_transient(error: BaseException) -> bool:
    """A database, broker or network that is down or slow: worth retrying, never a reason to
    dead-letter a message or to blame the caller. (asyncpg raises plain OSError when it
    cannot connect at all; a request that waits too long for a pooled connection is an
    overloaded database, not a bug.) Raw asyncpg errors count too, for the connections that
    SQLAlchemy does not hold (shared.invalidation's LISTEN)."""
    if isinstance(error, PostgresError):
        return str(error.sqlstate or "").startswith(TRANSIENT_SQLSTATES)
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None) or ""
        return (
            isinstance(error, OperationalError)
            or error.connection_invalidated
            or sqlstate.startswith(TRANSIENT_SQLSTATES)
        )
    return isinstance(error, OSError | TimeoutError | PoolTimeout | KafkaError)
