"""The JSON log lines of a service's process."""

import logging
from collections.abc import Iterator

import pytest
import structlog

from shared.logging import configure_logging


@pytest.fixture
def service_logging() -> Iterator[None]:
    """A service's logging for one test, then the test process's own again."""
    root, structlog_config = logging.getLogger(), structlog.get_config()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:], root.level = handlers, level
        logging.getLogger("uvicorn.access").setLevel(logging.NOTSET)
        logging.getLogger("aiokafka.conn").setLevel(logging.NOTSET)
        structlog.configure(**structlog_config)
        structlog.contextvars.clear_contextvars()


@pytest.mark.usefixtures("service_logging")
def test_a_token_in_a_logged_query_string_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """uvicorn logs each WebSocket handshake's path, and the live streams take their token in
    the query string: a log reader must not get a responder's token."""
    configure_logging("INFO", "notifier")
    handshake = '%s - "WebSocket %s" [accepted]'
    path = "/v1/ws?token=eyJ.secret.sig&since=5"
    logging.getLogger("uvicorn.error").info(handshake, "10.0.0.1:5555", path)
    out = capsys.readouterr().out
    assert "eyJ.secret.sig" not in out
    assert "/v1/ws?token=[redacted]&since=5" in out


@pytest.mark.usefixtures("service_logging")
def test_a_bad_log_call_is_reported_as_logging_always_has_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The redacting filter formats the message first; a call whose arguments do not fit
    must not raise in uvicorn's or aiokafka's code, and is reported on stderr as before."""
    configure_logging("INFO", "notifier")
    logging.getLogger("uvicorn.error").info("%d items", "not a number")
    reported = capsys.readouterr().err
    assert "--- Logging error ---" in reported
    assert "%d format: a real number is required" in reported


@pytest.mark.usefixtures("service_logging")
@pytest.mark.parametrize(("level", "logged"), [("INFO", False), ("DEBUG", True)])
def test_a_kafka_login_is_logged_only_at_debug(
    capsys: pytest.CaptureFixture[str], level: str, logged: bool
) -> None:
    """aiokafka logs every SASL login at INFO, and the readiness check logs in on every probe;
    a refused login is a warning, and stays."""
    configure_logging(level, "router")
    connections = logging.getLogger("aiokafka.conn")
    connections.info("Authenticated as %s via %s", "flare", "PLAIN")
    connections.warning("Sending username and password in the clear")
    out = capsys.readouterr().out
    assert ("Authenticated as flare via PLAIN" in out) is logged
    assert "Sending username and password in the clear" in out
