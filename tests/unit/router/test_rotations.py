"""Rotations: hand-offs in the team's time zone (midnight, DST), follow-the-sun, overrides."""

from datetime import UTC, date, datetime, time

import pytest

from services.router.assignment import pick_least_loaded
from services.router.rotations import Layer, Override, Rotation, rotation_on_call, team_on_call

WEEKLY_NEW_YORK = Layer(("ana", "bo", "cy"), "America/New_York", time(9), 7, date(2026, 1, 5))
DAILY_MIDNIGHT_DUBLIN = Layer(("dee", "eli"), "Europe/Dublin", time(0), 1, date(2026, 1, 1))
BASE = Layer(("base1", "base2"), "Europe/Dublin", time(9), 7, date(2026, 1, 5))
APAC = Layer(("sg1",), "Asia/Singapore", time(8), 7, date(2026, 1, 5), time(9), time(15))
AMER = Layer(("la1",), "America/Los_Angeles", time(8), 7, date(2026, 1, 5), time(8), time(16))
NIGHT = Layer(("owl",), "Europe/Dublin", time(22), 7, date(2026, 1, 5), time(22), time(6))
# Daily at 01:30 in New York: on 2026-11-01 01:00-02:00 happens twice (EDT, then EST).
REPEATED_HOUR = Layer(("odd", "even"), "America/New_York", time(1, 30), 1, date(2026, 1, 1))
SKIPPED_HOUR = Layer(("odd", "even"), "America/New_York", time(2, 30), 1, date(2026, 1, 1))


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# (id, layers, moment, who is on call)
ON_CALL = [
    ("weekly-first-shift", (WEEKLY_NEW_YORK,), utc(2026, 1, 5, 14, 0), "ana"),
    ("weekly-before-first-handoff", (WEEKLY_NEW_YORK,), utc(2026, 1, 5, 13, 59), None),
    ("weekly-second-week", (WEEKLY_NEW_YORK,), utc(2026, 1, 12, 14, 0), "bo"),
    ("weekly-cycles-back", (WEEKLY_NEW_YORK,), utc(2026, 1, 26, 14, 0), "ana"),
    ("weekly-one-minute-before-handoff", (WEEKLY_NEW_YORK,), utc(2026, 1, 12, 13, 59), "ana"),
    # 2026-03-09 is a Monday after DST began on 03-08: 09:00 EDT is 13:00 UTC, not 14:00.
    ("dst-spring-handoff-at-local-nine", (WEEKLY_NEW_YORK,), utc(2026, 3, 9, 13, 0), "ana"),
    ("dst-spring-just-before", (WEEKLY_NEW_YORK,), utc(2026, 3, 9, 12, 59), "cy"),
    # 2026-11-02 is the Monday after DST ended on 11-01: 09:00 EST is 14:00 UTC again.
    ("dst-autumn-before-handoff", (WEEKLY_NEW_YORK,), utc(2026, 11, 2, 13, 30), "ana"),
    ("dst-autumn-handoff", (WEEKLY_NEW_YORK,), utc(2026, 11, 2, 14, 0), "bo"),
    # The hand-off is at the first 01:30 (EDT, 05:30 UTC), and holds through the second hour.
    ("dst-repeated-hour-before-handoff", (REPEATED_HOUR,), utc(2026, 11, 1, 5, 29), "even"),
    ("dst-repeated-hour-handoff", (REPEATED_HOUR,), utc(2026, 11, 1, 5, 30), "odd"),
    ("dst-repeated-hour-second-01-15", (REPEATED_HOUR,), utc(2026, 11, 1, 6, 15), "odd"),
    ("dst-repeated-hour-second-01-45", (REPEATED_HOUR,), utc(2026, 11, 1, 6, 45), "odd"),
    # On 2026-03-08 02:30 does not happen: the hand-off comes as the clocks jump to 03:00 EDT.
    ("dst-skipped-handoff-before", (SKIPPED_HOUR,), utc(2026, 3, 8, 6, 59), "even"),
    ("dst-skipped-handoff-at-jump", (SKIPPED_HOUR,), utc(2026, 3, 8, 7, 0), "odd"),
    ("midnight-handoff-winter", (DAILY_MIDNIGHT_DUBLIN,), utc(2026, 1, 2, 0, 0), "eli"),
    (
        "midnight-handoff-winter-just-before",
        (DAILY_MIDNIGHT_DUBLIN,),
        utc(2026, 1, 1, 23, 59),
        "dee",
    ),
    # Summer time in Dublin: local midnight is 23:00 UTC the day before.
    ("midnight-handoff-summer", (DAILY_MIDNIGHT_DUBLIN,), utc(2026, 7, 1, 23, 0), "dee"),
    ("midnight-handoff-summer-before", (DAILY_MIDNIGHT_DUBLIN,), utc(2026, 7, 1, 22, 59), "eli"),
    ("follow-sun-asia-day", (BASE, APAC, AMER), utc(2026, 2, 3, 2, 0), "sg1"),
    ("follow-sun-europe-day-base", (BASE, APAC, AMER), utc(2026, 2, 3, 10, 0), "base1"),
    ("follow-sun-america-day", (BASE, APAC, AMER), utc(2026, 2, 3, 18, 0), "la1"),
    ("follow-sun-gap-falls-to-base", (BASE, APAC, AMER), utc(2026, 2, 3, 0, 30), "base1"),
    ("night-layer-across-midnight", (BASE, NIGHT), utc(2026, 2, 4, 1, 0), "owl"),
    ("night-layer-ends-at-six", (BASE, NIGHT), utc(2026, 2, 4, 6, 0), "base1"),
]


@pytest.mark.parametrize(
    ("layers", "moment", "expected"), [row[1:] for row in ON_CALL], ids=[row[0] for row in ON_CALL]
)
def test_who_is_on_call(layers: tuple[Layer, ...], moment: datetime, expected: str | None) -> None:
    assert rotation_on_call(Rotation("primary", layers), moment) == expected


def test_an_override_wins_for_its_period_only() -> None:
    cover = Override("zed", utc(2026, 1, 6, 0, 0), utc(2026, 1, 7, 0, 0))
    rotation = Rotation("primary", (WEEKLY_NEW_YORK,), (cover,))
    assert rotation_on_call(rotation, utc(2026, 1, 6, 12, 0)) == "zed"
    assert rotation_on_call(rotation, utc(2026, 1, 7, 0, 0)) == "ana"


def test_a_team_has_one_on_call_per_rotation_without_repeats() -> None:
    rotations = [
        Rotation("primary", (WEEKLY_NEW_YORK,)),
        Rotation("secondary", (DAILY_MIDNIGHT_DUBLIN,)),
        Rotation("shadow", (WEEKLY_NEW_YORK,)),
    ]
    assert team_on_call(rotations, utc(2026, 1, 5, 14, 0)) == ["ana", "dee"]


@pytest.mark.parametrize(
    ("on_call", "open_cases", "picked"),
    [
        (["ana", "dee"], {"ana": 3, "dee": 1}, "dee"),
        (["ana", "dee"], {"ana": 0}, "ana"),
        (["ana", "dee"], {"ana": 2, "dee": 2}, "ana"),
        ([], {}, None),
    ],
    ids=["fewest-open-cases", "none-open-counts-as-zero", "tie-keeps-rotation-order", "nobody"],
)
def test_the_least_loaded_on_call_is_picked(
    on_call: list[str], open_cases: dict[str, int], picked: str | None
) -> None:
    assert pick_least_loaded(on_call, open_cases) == picked
