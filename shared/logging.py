"""JSON logs, one line per event on stdout: structlog for our events; uvicorn's and aiokafka's
stdlib logs routed through the same processors."""

import logging
import re
import sys
from functools import partial
from typing import Any, TextIO

import structlog

_SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_RENDER: list[structlog.types.Processor] = [
    structlog.processors.format_exc_info,
    structlog.processors.JSONRenderer(),
]


def configure_logging(level: str, service: str, stream: TextIO | None = None) -> None:
    """Called once per process by a service's entry point.

    Our events go from structlog straight to stdout: the stdlib's records, formatter and
    handler cost a report's log line three times as much (a twelfth of intake's CPU at
    saturation, in the bench). The libraries' stdlib records take a handler on the same
    stream, so lines never interleave. Both flush each line. An admin command whose output
    is its result (a partner's new key) logs on stderr, so its stdout holds only that.
    """
    threshold = logging.getLevelNamesMapping()[level.upper()]
    stream = stream or sys.stdout  # read now: a test may have replaced it since the import
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, *_RENDER],
        logger_factory=partial(_NamedLineWriter, stream),
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.addFilter(_redact_tokens)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED_PROCESSORS,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_RENDER],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(threshold)
    # Request lines are what /metrics counts; the access log would only repeat them.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # aiokafka logs each connection's SASL login at INFO, and /readyz's Kafka check opens a
    # connection per probe: a line every few seconds from every pod. DEBUG keeps them.
    logging.getLogger("aiokafka.conn").setLevel(
        threshold if threshold == logging.DEBUG else max(threshold, logging.WARNING)
    )
    structlog.contextvars.bind_contextvars(service=service)


# A query string's token (the live streams take one: browsers cannot set a WebSocket's or an
# EventSource's headers), as uvicorn logs each WebSocket handshake's path at INFO.
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"']*")


def _redact_tokens(record: logging.LogRecord) -> bool:
    """A library's log line never carries a bearer token: whoever reads the logs could use it."""
    try:
        message = record.getMessage()
    except Exception:  # a bad log call: the handler reports it as logging always has
        return True
    if "token=" in message:
        record.msg, record.args = _TOKEN_IN_QUERY.sub(r"\1[redacted]", message), None
    return True


class _NamedLineWriter(structlog.WriteLogger):
    """Writes each line to its stream and flushes; has a `name`, as add_logger_name expects."""

    def __init__(self, stream: TextIO, name: str = "") -> None:
        super().__init__(stream)
        self.name = name


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
