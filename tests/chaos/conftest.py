"""The fault suite: `make chaos` runs every scenario (`--chaos`) and prints and saves the table;
without `--chaos` (as in `make test`) only the fast scenarios run."""

import time
from collections.abc import Generator, Iterator

import pytest

from tests.chaos.table import BY_NAME, Row, render, save

ROWS = pytest.StashKey[dict[str, list[Row]]]()
ROW_OF_ITEM = pytest.StashKey[Row]()
STARTED = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos", action="store_true", help="run the slow fault scenarios too")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[ROWS] = {}
    config.stash[STARTED] = time.monotonic()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("chaos", default=False):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if item.get_closest_marker("chaos") is None:
        return report
    row = row_of(item)  # made here when the test failed before asking for it
    if report.failed:
        row.result = "FAIL"
    elif report.when == "call" and row.result == "not run":
        row.result = "pass"
    return report


def row_of(item: pytest.Item) -> Row:
    """The table row of a test's scenario (named by its `chaos` marker)."""
    if ROW_OF_ITEM not in item.stash:
        marker = item.get_closest_marker("chaos")
        assert marker is not None, "mark the test chaos(<scenario>)"
        assert marker.args[0] in BY_NAME, f"{marker.args[0]} is not in tests/chaos/table.py"
        item.stash[ROW_OF_ITEM] = Row(marker.args[0])
        item.config.stash[ROWS].setdefault(marker.args[0], []).append(item.stash[ROW_OF_ITEM])
    return item.stash[ROW_OF_ITEM]


@pytest.fixture
def chaos_row(request: pytest.FixtureRequest) -> Iterator[Row]:
    """This test's row of the table, to fill in."""
    row = row_of(request.node)
    started = time.monotonic()
    yield row
    row.seconds = time.monotonic() - started


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if not config.getoption("chaos", default=False):
        return
    rows = config.stash[ROWS]
    table = render(rows)
    terminalreporter.write_sep("=", "chaos")
    terminalreporter.write(table)
    # A run of some scenarios (-k) must not replace the day's full results.
    if set(rows) == set(BY_NAME):
        path = save(table, time.monotonic() - config.stash[STARTED])
        terminalreporter.write_line(f"saved to {path}")
    else:
        terminalreporter.write_line("not saved: not every scenario ran")
