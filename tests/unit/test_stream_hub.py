"""The live-stream hub: each client gets what its filter wants; a client that falls behind is cut
off; a reconnecting client gets what it missed from the replay buffer."""

from asyncio import Queue

from prometheus_client import CollectorRegistry

from services.notifier.filters import EventFilter
from services.notifier.hub import End, StreamEvent, StreamHub
from shared.events import Severity
from tests.integration.notifier_peers import snapshot


def event(name: str, team: str = "Legal", severity: Severity = Severity.SEV3) -> StreamEvent:
    return StreamEvent(name, "flare.case.created", snapshot(team=team, severity=severity), name)


def hub(queue_size: int = 10, replay_size: int = 10) -> StreamHub:
    return StreamHub(queue_size, replay_size, CollectorRegistry())


def drain(queue: "Queue[StreamEvent | End]") -> list[str]:
    items = []
    while not queue.empty():
        item = queue.get_nowait()
        items.append(item.name if isinstance(item, End) else item.id)
    return items


def test_every_subscriber_receives_every_event_in_order() -> None:
    streams = hub()
    (first, _), (second, _) = streams.subscribe(), streams.subscribe()
    for name in ("a", "b", "c"):
        streams.publish(event(name))
    assert drain(first.queue) == drain(second.queue) == ["a", "b", "c"]


def test_subscriber_receives_only_events_its_filter_wants() -> None:
    streams = hub()
    legal, _ = streams.subscribe(EventFilter.of(teams=["Legal"]))
    severe, _ = streams.subscribe(EventFilter.of(min_severity=Severity.SEV2))
    streams.publish(event("legal-sev3"))
    streams.publish(event("ops-sev1", team="Global Operations", severity=Severity.SEV1))
    assert drain(legal.queue) == ["legal-sev3"]
    assert drain(severe.queue) == ["ops-sev1"]


def test_a_full_client_is_dropped_and_told_without_slowing_the_others() -> None:
    registry = CollectorRegistry()
    streams = StreamHub(queue_size=2, replay_size=0, registry=registry)
    (slow, _), (fast, _) = streams.subscribe(), streams.subscribe()
    streams.publish(event("1"))
    streams.publish(event("2"))
    assert drain(fast.queue) == ["1", "2"]
    streams.publish(event("3"))  # slow's queue is full: it is dropped, fast still gets the event
    assert drain(slow.queue) == ["TOO_SLOW"]
    assert drain(fast.queue) == ["3"]
    streams.publish(event("4"))
    assert slow.queue.empty(), "a dropped client receives nothing more"
    assert registry.get_sample_value("flare_stream_clients") == 1
    assert registry.get_sample_value("flare_stream_clients_dropped_total") == 1


def test_reconnecting_client_gets_the_filtered_events_after_its_last_event_id() -> None:
    streams = hub(replay_size=3)
    for name, team in (("a", "Legal"), ("b", "Sales"), ("c", "Legal"), ("d", "Legal")):
        streams.publish(event(name, team=team))
    _, missed = streams.subscribe(EventFilter.of(teams=["Legal"]), last_event_id="b")
    assert [item.id for item in missed or []] == ["c", "d"]
    _, gone = streams.subscribe(last_event_id="a")  # pushed out of the buffer of three
    assert gone is None


def test_unsubscribed_client_receives_nothing() -> None:
    streams = hub()
    gone, _ = streams.subscribe()
    streams.unsubscribe(gone)
    streams.publish(event("x"))
    assert gone.queue.empty()


def test_closing_ends_every_stream_after_its_queued_events_and_any_opened_later() -> None:
    registry = CollectorRegistry()
    streams = StreamHub(queue_size=10, replay_size=10, registry=registry)
    open_one, _ = streams.subscribe()
    streams.publish(event("unsent"))
    streams.close()
    late, _ = streams.subscribe()
    streams.publish(event("after"))
    assert drain(open_one.queue) == ["unsent", "SHUTDOWN"]
    assert drain(late.queue) == ["SHUTDOWN"]
    assert registry.get_sample_value("flare_stream_clients") == 0
