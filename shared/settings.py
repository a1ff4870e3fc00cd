"""Settings every service has, read from FLARE_* environment variables."""

import ipaddress
import os
from typing import Literal
from urllib.parse import parse_qsl, unquote

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from shared.events import Topics
from shared.kafka import KafkaAccess
from shared.tracing import Exporter

LOCAL_JWT_SECRET = "flare-local-development-secret-change-me"
# What a database URL's query may hold: the parameters asyncpg reads as libpq does, and the
# start-up parameters PostgreSQL takes from any client. asyncpg would send any other key
# (connect_timeout, channel_binding, service) to PostgreSQL as a server setting, which it
# refuses: every connection would fail, long after start-up. (asyncpg/connect_utils.py)
DATABASE_URL_QUERY = frozenset(
    {
        *("host", "port", "passfile"),  # host and port: a Unix socket's, the URL naming none
        *("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword"),
        *("sslnegotiation", "ssl_min_protocol_version", "ssl_max_protocol_version"),
        *("target_session_attrs", "krbsrvname", "gsslib"),
        *("application_name", "options"),
    }
)
# libpq's other connection parameters (PostgreSQL 17): refused by name.
LIBPQ_KEYWORDS = frozenset(
    {
        *("hostaddr", "user", "password", "dbname", "service", "channel_binding"),
        *("connect_timeout", "client_encoding", "fallback_application_name", "keepalives"),
        *("keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"),
        *("replication", "gssencmode", "gssdelegation", "requiressl", "sslcompression"),
        *("sslcrldir", "sslsni", "sslcertmode", "requirepeer", "require_auth"),
        *("load_balance_hosts",),
    }
)
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _loopback(host: str) -> bool:
    """Whether a listening address takes connections from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _database_url(value: str) -> URL:
    """The URL if asyncpg would connect where psql connects, with libpq's parameters it reads
    as libpq does; else ValueError, naming no part of it (it holds a password). Where the two
    read a URL apart, it is refused: one host; a password with no `/` nor `@` unencoded (libpq
    ends the user's part at either); the host, port, user and database in the URL's own parts
    (asyncpg lets those win over the query's, libpq the query's), but for a Unix socket's
    directory and port; each query key once, with a value and no `+` (asyncpg keeps the last
    of a repeated key, drops an empty one, and reads `+` as a space)."""
    not_a_url = ValueError(
        "not a database URL (postgresql://user:password@host:port/db, one host; percent-encode "
        "any @ : / ? # % in the password, and any @ or + elsewhere)"
    )
    before_host, at, after = value.partition("@")
    if "@" in after or (at and "/" in before_host.partition("://")[2]):
        raise not_a_url
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):  # their text would show the URL (a bad port)
        raise not_a_url from None
    raw_query = (after if at else value).partition("?")[2]
    query = parse_qsl(raw_query, keep_blank_values=True)
    keys = [key for key, _ in query]
    if "," in unquote(url.host or "") or "+" in raw_query or not all(v for _, v in query):
        raise not_a_url
    if unknown := set(keys) - DATABASE_URL_QUERY - {"ssl"}:
        # Another key is named only if it is libpq's: it may be a piece of an unencoded secret.
        named = sorted(unknown & LIBPQ_KEYWORDS) + ["another key"] * bool(unknown - LIBPQ_KEYWORDS)
        raise ValueError(
            f"its query may hold libpq's connection parameters; not {', '.join(named)}"
        )
    if twice := sorted({key for key in keys if keys.count(key) > 1}):
        raise ValueError(f"its query names {', '.join(twice)} twice")
    if "ssl" in url.query:
        if "sslmode" in url.query:
            raise ValueError("its query names sslmode twice (ssl= is read as sslmode)")
        url = url.difference_update_query(["ssl"]).update_query_dict({"sslmode": url.query["ssl"]})
    if url.query.get("sslmode", "prefer") not in SSL_MODES:
        raise ValueError(f"sslmode (or ssl) must be one of {', '.join(SSL_MODES)}")
    if url.host is None and url.port is not None:
        # postgresql://u:p@:5433/db is psql's Unix socket on port 5433; asyncpg would take
        # the empty host and look for it over TCP, but reads a port in the query as psql does.
        if "port" in url.query:
            raise ValueError("its query names port twice")
        url = url._replace(port=None).update_query_dict({"port": str(url.port)})
    socket = str(url.query.get("host", "/"))
    if (url.host is not None and {"host", "port"} & set(url.query)) or not socket.startswith("/"):
        raise ValueError(
            "its query may name a host and port only for a Unix socket (?host=/run/postgresql),"
            " and only where the URL names no host"
        )
    return url


class KafkaSettings(BaseSettings):
    """How to reach Kafka: the services' settings, and on their own `kafka_admin`'s."""

    # An invalid value is named, never shown: the database URL and the secrets hold passwords.
    model_config = SettingsConfigDict(
        env_prefix="FLARE_", extra="ignore", hide_input_in_errors=True
    )

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # A secured cluster: TLS (SSL), a login (SASL_PLAINTEXT) or both (SASL_SSL). With TLS the
    # brokers' certificates are checked against kafka_ssl_cafile, a mounted CA bundle (the
    # system's CAs when unset); with SASL the services log in with the mechanism, user and
    # password given (the password from a Secret).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str | None = None

    @field_validator("kafka_ssl_cafile")
    @classmethod
    def readable_ca(cls, path: str | None) -> str | None:
        """Checked at start: a CA bundle that is not there (its Secret missing) would otherwise
        fail every connection, as an outage that never ends. Empty is unset: the system's CAs."""
        if not path:
            return None
        if not (os.path.isfile(path) and os.access(path, os.R_OK)):
            raise ValueError(
                f"cannot read {path} (is the Secret flare-kafka-client's ca.crt mounted?)"
            )
        return path

    @model_validator(mode="after")
    def login_for_sasl(self) -> "KafkaSettings":
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()):
            raise ValueError(
                f"{self.kafka_security_protocol} needs FLARE_KAFKA_SASL_USERNAME and "
                "FLARE_KAFKA_SASL_PASSWORD"
            )
        return self

    @property
    def kafka(self) -> KafkaAccess:
        return KafkaAccess(
            self.kafka_bootstrap_servers,
            self.kafka_security_protocol,
            self.kafka_sasl_mechanism,
            self.kafka_sasl_username,
            self.kafka_sasl_password.get_secret_value(),
            self.kafka_ssl_cafile,
        )


class FlareSettings(KafkaSettings):
    """Read once, in a service's entry point, and passed down."""

    host: str = "127.0.0.1"
    port: int
    database_url: str = "postgresql+asyncpg://flare:flare@127.0.0.1:5432/flare"
    db_pool_size: int = Field(default=10, ge=1)
    # Prefixes every topic and consumer group name, so test runs never meet `make run`.
    topic_prefix: str = ""
    log_level: str = "INFO"
    # Seconds a SIGTERM waits for in-flight requests and messages before the process exits.
    shutdown_timeout_s: float = Field(default=20.0, gt=0)
    # Seconds between SIGTERM and shutdown during which /readyz says "not ready" while requests
    # are still served, so a load balancer stops sending first (5 on Kubernetes).
    shutdown_drain_s: float = Field(default=0.0, ge=0)
    # Outbox relay: rows per Kafka batch, and how often it looks for rows committed by other
    # replicas (a replica's own commits wake its relay at once).
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_interval_s: float = Field(default=1.0, gt=0)
    # Kafka records a consumer takes per poll. The router, intake's status consumer and the
    # notifier's deliveries handle a poll in one transaction: this bounds how long it holds
    # its locks (a case being acknowledged waits for it) and how much a crash redoes.
    consumer_batch_max: int = Field(default=100, ge=1)
    # Larger request bodies are refused with 413 before they are read into memory.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # OpenTelemetry traces: "none" (default), "console" or "otlp" (to otel_endpoint, or the
    # OTEL_EXPORTER_OTLP_ENDPOINT the exporter reads itself).
    otel_exporter: Exporter = Exporter.NONE
    otel_endpoint: str | None = None

    @field_validator("database_url")
    @classmethod
    def use_asyncpg(cls, value: str) -> str:
        """Accept plain postgresql:// URLs (as operators' secrets hold them) and use asyncpg.
        TLS is asked for as psql asks for it, `?sslmode=require` (or verify-full, with
        sslrootcert); `ssl=`, which SQLAlchemy's asyncpg dialect took, is read as sslmode."""
        url = _database_url(value)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+asyncpg")
        return url.render_as_string(hide_password=False)

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.topic_prefix)


class ResponderAuthSettings(FlareSettings):
    """A service that verifies responder tokens (the router, the notifier). intake does not:
    it is not given the secret, so a compromised partner-facing pod cannot mint tokens."""

    # Signs and verifies responder tokens (HS256). The default is for local runs only, and
    # refused on any other address: it is public, so anyone could mint an admin's token.
    # Every deployment sets its own through a Secret.
    jwt_secret: str = Field(default=LOCAL_JWT_SECRET, min_length=32)

    def refuse_public_secret(self) -> None:
        """ValueError when serving on `host` would accept tokens anyone can mint. Checked by
        `serve` alone: a migration or an admin command on the same settings verifies none."""
        if self.jwt_secret == LOCAL_JWT_SECRET and not _loopback(self.host):
            raise ValueError(
                f"FLARE_JWT_SECRET must be set to serve on {self.host}: the default is public, "
                "for local runs on 127.0.0.1 only (e.g. FLARE_JWT_SECRET=$(openssl rand -hex 32))"
            )


def settings_problems(error: ValidationError) -> str:
    """Invalid settings in one line: each problem with its variable, never its value (one may
    be a password)."""
    return "; ".join(
        (f"FLARE_{str(item['loc'][0]).upper()}: " if item["loc"] else "") + item["msg"]
        for item in error.errors(include_input=False)
    )
