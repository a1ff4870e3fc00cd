"""A secured Kafka: the services' clients (admin, producer, group consumer, the readiness
check) reach a broker that wants a login (SASL) over TLS, check its certificate, and are refused
with a wrong password or an unknown CA. A broker of the test's own, with a SASL_SSL listener."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import BaseModel

from shared.events import Topics
from shared.kafka import (
    Envelope,
    EventProducer,
    KafkaAccess,
    OutgoingMessage,
    group_consumer,
    kafka_reachable,
)
from shared.kafka_admin import create_topics
from tests.disposable import disposable_kafka
from tests.e2e.processes import free_port
from tests.integration.notifier_peers import self_signed_certificate

PASSWORD = "flare-secret"
JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    f'username="broker" password="broker-secret" user_flare="{PASSWORD}";'
)


class Probe(BaseModel):
    n: int


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The broker's SASL_SSL address (user `flare`, PLAIN) and the CA its certificate is from."""
    directory = tmp_path_factory.mktemp("kafka-tls")
    certificate, key = self_signed_certificate(directory)
    keystore = directory / "broker.pem"  # Kafka's PEM keystore: the key, then its chain
    keystore.write_text(key.read_text() + certificate.read_text())
    port = free_port()
    listener = f"SASL_SSL://127.0.0.1:{port}"
    config = f"""
listeners=PLAINTEXT://127.0.0.1:@PORT@,CONTROLLER://127.0.0.1:@CONTROLLER_PORT@,{listener}
advertised.listeners=PLAINTEXT://127.0.0.1:@ADVERTISED_PORT@,{listener}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config={JAAS}
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
"""
    with disposable_kafka(extra_config=config):
        yield f"127.0.0.1:{port}", certificate


def access(
    secured: tuple[str, Path], password: str = PASSWORD, ca: Path | None = None
) -> KafkaAccess:
    address, certificate = secured
    return KafkaAccess(
        address,
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="flare",
        sasl_password=password,
        ssl_cafile=str(ca or certificate),
    )


async def test_the_services_clients_log_in_over_tls_and_an_event_goes_round(
    secured: tuple[str, Path],
) -> None:
    kafka = access(secured)
    await kafka_reachable(kafka)
    topics = Topics.with_prefix("secured.")
    assert await create_topics(kafka, topics) == list(topics.partition_counts())
    producer = EventProducer(kafka, "secured-test")
    envelope = Envelope.new("flare.escalation.received", "/test", Probe(n=1))
    try:
        await producer.send_all([OutgoingMessage(topics.escalations, "key", envelope)])
    finally:
        await producer.stop()
    consumer = group_consumer(kafka, topics.escalations, "secured-group", "secured-test")()
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=15_000)
    finally:
        await consumer.stop()
    [record] = [record for records in batches.values() for record in records]
    assert Envelope.from_record(record).id == envelope.id


async def test_a_wrong_password_is_refused(secured: tuple[str, Path]) -> None:
    with pytest.raises(KafkaConnectionError):
        await kafka_reachable(access(secured, password="wrong"))


async def test_a_broker_certificate_from_another_ca_is_refused(
    secured: tuple[str, Path], tmp_path: Path
) -> None:
    other_ca, _ = self_signed_certificate(tmp_path)
    with pytest.raises(KafkaConnectionError):
        await kafka_reachable(access(secured, ca=other_ca))
