"""The live-stream hub: every client gets every event; a client that falls behind is cut off."""

from prometheus_client import CollectorRegistry

from services.notifier.hub import TOO_SLOW, StreamHub


def test_every_subscriber_receives_every_event_in_order() -> None:
    hub = StreamHub(queue_size=10, registry=CollectorRegistry())
    first, second = hub.subscribe(), hub.subscribe()
    for message in ("a", "b", "c"):
        hub.publish(message)
    for subscriber in (first, second):
        assert [subscriber.queue.get_nowait() for _ in range(3)] == ["a", "b", "c"]


def test_a_full_client_is_dropped_and_told_without_slowing_the_others() -> None:
    registry = CollectorRegistry()
    hub = StreamHub(queue_size=2, registry=registry)
    slow, fast = hub.subscribe(), hub.subscribe()
    hub.publish("1")
    hub.publish("2")
    fast.queue.get_nowait(), fast.queue.get_nowait()
    hub.publish("3")  # slow's queue is full: it is dropped, fast still gets the event
    assert slow.queue.get_nowait() is TOO_SLOW
    assert slow.queue.empty()
    assert fast.queue.get_nowait() == "3"
    hub.publish("4")
    assert slow.queue.empty(), "a dropped client receives nothing more"
    assert registry.get_sample_value("flare_stream_clients") == 1
    assert registry.get_sample_value("flare_stream_clients_dropped_total") == 1


def test_unsubscribed_client_receives_nothing() -> None:
    hub = StreamHub(queue_size=10, registry=CollectorRegistry())
    gone = hub.subscribe()
    hub.unsubscribe(gone)
    hub.publish("x")
    assert gone.queue.empty()
