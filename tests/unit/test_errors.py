"""Which database errors count as an outage (retry, 503) and which as a bug or bad data."""

import pytest
from asyncpg.exceptions import (
    AdminShutdownError,
    CannotConnectNowError,
    ConnectionDoesNotExistError,
    DeadlockDetectedError,
    DiskFullError,
    OutOfMemoryError,
    PostgresError,
    PostgresIOError,
    QueryCanceledError,
    ReadOnlySQLTransactionError,
    SerializationError,
    TooManyConnectionsError,
    UniqueViolationError,
)
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from shared.errors import is_transient


def as_sqlalchemy_raises_it(cause: PostgresError) -> DBAPIError:
    adapted = AsyncAdapt_asyncpg_dbapi.Error(str(cause), cause)  # type: ignore[no-untyped-call]
    error = DBAPIError.instance(None, None, adapted, AsyncAdapt_asyncpg_dbapi.Error)
    assert isinstance(error, DBAPIError)
    return error


# Found by the postgres-stopped chaos scenario: intake answered 500, not 503, to the requests
# that met the server shutting down or starting up.
@pytest.mark.parametrize(
    "cause",
    [
        CannotConnectNowError("the database system is shutting down"),
        CannotConnectNowError("the database system is starting up"),
        AdminShutdownError("terminating connection due to administrator command"),
        TooManyConnectionsError("sorry, too many clients already"),
    ],
)
def test_a_server_going_away_or_coming_back_is_transient(cause: PostgresError) -> None:
    assert is_transient(as_sqlalchemy_raises_it(cause))


# A full disk would have made the router dead-letter every report it read, and intake answer 500:
# the server stays up, every write fails until the disk has room again.
@pytest.mark.parametrize(
    "cause",
    [
        DiskFullError("could not extend file: No space left on device"),
        OutOfMemoryError("out of memory"),
        PostgresIOError("could not write to file"),
        ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        QueryCanceledError("canceling statement due to user request"),
    ],
)
def test_a_server_out_of_a_resource_or_read_only_is_transient(cause: PostgresError) -> None:
    assert is_transient(as_sqlalchemy_raises_it(cause))


# A poll is one transaction: two router replicas can deadlock on rows both insert (the
# emerging risks of a region); the loser is retried, never dead-lettered.
@pytest.mark.parametrize(
    "cause",
    [
        DeadlockDetectedError("deadlock detected"),
        SerializationError("could not serialize access due to concurrent update"),
    ],
)
def test_a_transaction_that_lost_to_another_is_transient(cause: PostgresError) -> None:
    assert is_transient(as_sqlalchemy_raises_it(cause))


def test_a_constraint_violation_is_not_transient() -> None:
    assert not is_transient(as_sqlalchemy_raises_it(UniqueViolationError("duplicate key")))


# shared.invalidation's LISTEN connection is asyncpg's own, so its errors arrive unwrapped.
@pytest.mark.parametrize(
    ("cause", "transient"),
    [
        (AdminShutdownError("terminating connection due to administrator command"), True),
        (TooManyConnectionsError("too many connections for database"), True),
        (ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        (UniqueViolationError("duplicate key"), False),
    ],
)
def test_raw_asyncpg_errors_are_judged_by_their_sqlstate_too(
    cause: PostgresError, transient: bool
) -> None:
    assert is_transient(cause) is transient
