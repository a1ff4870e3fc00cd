"""The console page as served: its settings filled in once, its script whole."""

from services.notifier.console import console_page
from services.notifier.console_script import CONSOLE_SCRIPT


def test_a_router_url_naming_a_placeholder_is_not_filled_in_again() -> None:
    page = console_page('https://router.example/__SCRIPT__"x')
    assert '<meta name="flare-router" content="https://router.example/__SCRIPT__&quot;x">' in page
    assert page.count(CONSOLE_SCRIPT) == 1
