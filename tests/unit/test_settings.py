"""Settings: what operators may write and what the services then use."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings
from services.notifier.settings import NotifierSettings
from services.router.settings import RouterSettings
from shared.kafka import KafkaAccess
from shared.settings import FlareSettings, ResponderAuthSettings, settings_problems


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db:5432/flare", "postgresql+asyncpg://u:p@db:5432/flare"),
        ("postgres://u:p@db/flare", "postgresql+asyncpg://u:p@db/flare"),
        ("postgresql+asyncpg://u:p@db/flare", "postgresql+asyncpg://u:p@db/flare"),
    ],
)
def test_plain_postgres_urls_are_used_with_asyncpg(given: str, used: str) -> None:
    assert FlareSettings(port=1, database_url=given).database_url == used


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgresql://flare:pw@db/flare?sslmode=verify-full&sslrootcert=/ca.pem",
            "postgresql+asyncpg://flare:pw@db/flare?sslmode=verify-full&sslrootcert=%2Fca.pem",
        ),
        # SQLAlchemy's asyncpg dialect took `ssl=`: such URLs keep working.
        (
            "postgresql://flare:pw@db/flare?ssl=require",
            "postgresql+asyncpg://flare:pw@db/flare?sslmode=require",
        ),
        (
            "postgresql://flare:pw@/flare?host=/cloudsql/p:r:i",
            "postgresql+asyncpg://flare:pw@/flare?host=%2Fcloudsql%2Fp%3Ar%3Ai",
        ),
        ("postgresql://flare:pa?ss@db/flare", "postgresql+asyncpg://flare:pa%3Fss@db/flare"),
        # A Unix socket on another port: where the URL names no host, the query may name
        # the socket's directory and port.
        (
            "postgresql:///flare?host=/run/pg&port=5433",
            "postgresql+asyncpg:///flare?host=%2Frun%2Fpg&port=5433",
        ),
        # psql reads these as the socket's port; asyncpg would look for it over TCP.
        (
            "postgresql://flare:pw@:5433/flare?host=/run/pg",
            "postgresql+asyncpg://flare:pw@/flare?host=%2Frun%2Fpg&port=5433",
        ),
        ("postgresql://flare:pw@:5433/flare", "postgresql+asyncpg://flare:pw@/flare?port=5433"),
        (
            "postgresql://flare%40server:pw@[::1]:5433/flare?application_name=ops%40flare%2B1",
            "postgresql+asyncpg://flare%40server:pw@[::1]:5433/flare?application_name=ops%40flare%2B1",
        ),
    ],
)
def test_tls_and_libpqs_other_parameters_are_taken_as_psql_takes_them(
    given: str, used: str
) -> None:
    assert FlareSettings(port=1, database_url=given).database_url == used


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (
            "postgresql://flare:s3cret-pw@db/flare?sslmode=require&connect_timeout=10",
            "not connect_timeout",
        ),
        ("postgresql://flare:s3cret-pw@db/flare?channel_binding=require", "not channel_binding"),
        ("postgresql://flare:s3cret-pw?x=1@db/flare?connect_timeout=1", "not connect_timeout"),
        ("postgresql://flare:s3cret-pw@db/flare?service=prod", "not service"),
        # Not libpq's: perhaps a piece of a secret with an unencoded &, so not named.
        ("postgresql://flare:pw@db/flare?sslpassword=ab&s3cret-pw=1", "not another key"),
        # asyncpg lets the URL's own host, port, user and database win, libpq the query's:
        # they would connect apart.
        ("postgresql://flare:s3cret-pw@db/app?port=5433", "only for a Unix socket"),
        ("postgresql://flare:s3cret-pw@db/flare?host=/run/pg", "only for a Unix socket"),
        ("postgresql://flare:s3cret-pw@/flare?host=10.0.0.5:5433", "only for a Unix socket"),
        ("postgresql://flare:s3cret-pw@/flare?host=::1", "only for a Unix socket"),
        ("postgresql://flare:s3cret-pw@:5432/flare?host=/run/pg&port=5433", "names port twice"),
        ("postgresql://flare:s3cret-pw@db/flare?user=other", "not user"),
        ("postgresql://flare@db/flare?password=s3cret-pw", "not password"),
        ("postgresql://flare:s3cret-pw@db/app?dbname=flare", "not dbname"),
        # asyncpg keeps the last of a repeated key (the failover asked for would be lost),
        # drops one without a value (libpq reads host= as the default socket), and reads + as
        # a space (libpq as +).
        ("postgresql://flare:s3cret-pw@/flare?host=/a&host=/b", "names host twice"),
        ("postgresql://flare:s3cret-pw@db/flare?sslmode=require&ssl=disable", "sslmode twice"),
        ("postgresql://flare:s3cret-pw@db/flare?host=", "not a database URL"),
        ("postgresql://flare:s3cret-pw@db/flare?sslmode", "not a database URL"),
        ("postgresql://flare:s3cret-pw@db/flare?application_name=a+b", "not a database URL"),
        ("postgresql://flare:s3cret-pw@/flare?host=h1:5432,h2:5432", "only for a Unix socket"),
        ("postgresql://flare:s3cret-pw@h1:5432,h2:5432/flare", "not a database URL"),
        ("postgresql://flare:s3cret-pw@h1,h2/flare", "not a database URL"),
        ("postgresql://flare:s3cret-pw@h1%2Ch2/flare", "not a database URL"),
        ("postgresql://flare:s3cret-pw@db/flare?ssl=true", "sslmode (or ssl) must be one of"),
        ("postgresql://flare:s3cret-pw@db/flare?sslmode=requir", "sslmode (or ssl) must be one of"),
        ("postgresql://flare:ab@s3cret-pw@db:5432/flare", "not a database URL"),
        ("postgresql://flare:ab@cd:s3cret-pw@db:5432/flare", "not a database URL"),
        # An unencoded @ past a ? or a /: the rest of the password was read as the query (and
        # named in the error) or as the host and database (and connected to).
        ("postgresql://flare:pa@ss?s3cret-pw@db:5432/flare?sslmode=require", "not a database"),
        ("postgresql://flare:s3@127.0.0.1:1?s3cret-pw@db:5432/flare", "not a database URL"),
        ("postgresql://flare:s3cret-pw@b/c@db/flare", "not a database URL"),
        # libpq ends the user's part at an unencoded /, asyncpg at the @.
        ("postgresql://flare:12/s3cret-pw@db/flare", "not a database URL"),
        ("postgresql://flare:s3cret-pw@db/flare?application_name=ops@flare", "not a database"),
        ("s3cret-pw", "not a database URL"),
    ],
)
def test_a_url_asyncpg_would_send_server_settings_from_is_refused_unshown(
    url: str, named: str
) -> None:
    """asyncpg sends what it does not read as libpq does to PostgreSQL as server settings, and
    PostgreSQL refuses them: at start-up, with the key named and nothing of the URL shown."""
    with pytest.raises(ValidationError) as refused:
        FlareSettings(port=1, database_url=url)
    assert named in str(refused.value)
    assert "s3cret-pw" not in str(refused.value)


def test_settings_come_from_flare_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLARE_PORT", "9000")
    monkeypatch.setenv("FLARE_TOPIC_PREFIX", "staging.")
    settings = FlareSettings()
    assert settings.port == 9000
    assert settings.topics.cases == "staging.flare.cases.v1"


@pytest.mark.parametrize("service", [IntakeSettings, RouterSettings, NotifierSettings])
def test_every_service_reads_its_body_limit_from_flare_max_body_bytes(
    monkeypatch: pytest.MonkeyPatch, service: type[FlareSettings]
) -> None:
    monkeypatch.delenv("FLARE_MAX_BODY_BYTES", raising=False)
    assert service().max_body_bytes == 1024 * 1024
    monkeypatch.setenv("FLARE_MAX_BODY_BYTES", "65536")
    assert service().max_body_bytes == 65536


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "flare.internal"])
def test_the_public_default_token_secret_is_refused_for_serving_beyond_this_machine(
    host: str,
) -> None:
    """Anyone could mint an admin's token with it. A migration on the same settings (the
    Kubernetes Job has the pods' FLARE_HOST and no secret) verifies no token: it may run."""
    settings = ResponderAuthSettings(port=1, host=host)
    with pytest.raises(ValueError, match="FLARE_JWT_SECRET must be set to serve on"):
        settings.refuse_public_secret()
    ResponderAuthSettings(port=1, host=host, jwt_secret="s" * 32).refuse_public_secret()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_the_default_token_secret_serves_local_runs(host: str) -> None:
    ResponderAuthSettings(port=1, host=host).refuse_public_secret()


def test_a_secured_kafka_is_reached_as_the_settings_say(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "kafka-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    for name, value in {
        "FLARE_KAFKA_BOOTSTRAP_SERVERS": "kafka-0.example:9093",
        "FLARE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FLARE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "FLARE_KAFKA_SASL_USERNAME": "flare",
        "FLARE_KAFKA_SASL_PASSWORD": "pw-from-a-secret",
        "FLARE_KAFKA_SSL_CAFILE": str(ca),
    }.items():
        monkeypatch.setenv(name, value)
    kafka = FlareSettings(port=1).kafka
    assert kafka == KafkaAccess(
        "kafka-0.example:9093",
        "SASL_SSL",
        "SCRAM-SHA-256",
        "flare",
        "pw-from-a-secret",
        str(ca),
    )
    assert "pw-from-a-secret" not in repr(kafka)


def test_sasl_without_a_login_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="FLARE_KAFKA_SASL_PASSWORD"):
        FlareSettings(port=1, kafka_security_protocol="SASL_SSL", kafka_sasl_username="flare")


def test_a_kafka_ca_file_that_cannot_be_read_stops_the_start(tmp_path: Path) -> None:
    missing = tmp_path / "ca.crt"
    with pytest.raises(ValidationError, match=f"cannot read {missing}"):
        FlareSettings(port=1, kafka_ssl_cafile=str(missing))
    with pytest.raises(ValidationError, match=f"cannot read {tmp_path}"):
        FlareSettings(port=1, kafka_ssl_cafile=str(tmp_path))  # a directory
    assert FlareSettings(port=1, kafka_ssl_cafile="").kafka.ssl_cafile is None  # the system's
    missing.write_text("-----BEGIN CERTIFICATE-----\n")
    assert FlareSettings(port=1, kafka_ssl_cafile=str(missing)).kafka.ssl_cafile == str(missing)


def test_a_problem_in_a_list_names_its_variable_not_the_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What an operator reads at start-up: the variable to fix, never a value (it may be a
    password)."""
    monkeypatch.setenv("FLARE_SENSITIVE_CATEGORIES", '["crisis", 7]')
    with pytest.raises(ValidationError) as refused:
        NotifierSettings(port=1)
    assert settings_problems(refused.value) == (
        "FLARE_SENSITIVE_CATEGORIES: Input should be a valid string"
    )
