"""Settings every service has, read from FLARE_* environment variables."""

import ipaddress
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events import Topics
from shared.kafka import KafkaAccess
from shared.tracing import Exporter

LOCAL_JWT_SECRET = "flare-local-development-secret-change-me"
# What a database URL's query may hold: the parameters asyncpg reads as libpq does. It would send
# any other (connect_timeout, channel_binding, ssl) to PostgreSQL as a server setting, which
# PostgreSQL refuses: every connection would fail, long after start-up.
DATABASE_URL_QUERY = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "sslpassword",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "target_session_attrs",
        "application_name",
    }
)


def _loopback(host: str) -> bool:
    """Whether a listening address takes connections from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


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
    def use_asyncpg(cls, url: str) -> str:
        """Accept plain postgresql:// URLs (as operators' secrets hold them) and use asyncpg.
        TLS is asked for as psql asks for it, `?sslmode=require` (or verify-full, with
        sslrootcert)."""
        keys = {key for key, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
        if unknown := sorted(keys - DATABASE_URL_QUERY):
            hint = " (ask for TLS with sslmode=..., e.g. ?sslmode=require)" if "ssl" in keys else ""
            raise ValueError(
                f"the URL's query may hold {', '.join(sorted(DATABASE_URL_QUERY))}; "
                f"not {', '.join(unknown)}{hint}"
            )
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url.removeprefix(plain)
        return url

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
