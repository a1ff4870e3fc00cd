"""What a webhook or chat POST to a checked address carries: the target's path and query as
given, its host in the Host header and as TLS's server name."""

from uuid import uuid4

import aiohttp
import pytest

from services.notifier.senders import Senders, pinned, without_credentials
from services.notifier.settings import NotifierSettings


@pytest.mark.parametrize(
    ("target", "address", "url", "host"),
    [
        # Escapes stay as written: a receiver that signs or compares its URL sees its own.
        (
            "https://hooks.example/a%2Fb?x=%7e&y=%41&z=%2F",
            "203.0.113.5",
            "https://203.0.113.5/a%2Fb?x=%7e&y=%41&z=%2F",
            "hooks.example",
        ),
        # A default port written out is not repeated in Host; another is.
        ("https://hooks.example:443/x", "203.0.113.5", "https://203.0.113.5/x", "hooks.example"),
        (
            "http://hooks.example:8080/x?",
            "203.0.113.5",
            "http://203.0.113.5:8080/x",
            "hooks.example:8080",
        ),
        # An IPv6 address in brackets; an IDN host as punycode; spaces and letters encoded.
        (
            "https://Bücher.example/pä th?q=ä b",
            "2001:db8::5",
            "https://[2001:db8::5]/p%C3%A4%20th?q=%C3%A4%20b",
            "xn--bcher-kva.example",
        ),
        (
            "http://[2001:db8::7]:9000",
            "2001:db8::7",
            "http://[2001:db8::7]:9000/",
            "[2001:db8::7]:9000",
        ),
    ],
)
def test_the_request_goes_to_the_address_with_the_targets_path_query_and_host(
    target: str, address: str, url: str, host: str
) -> None:
    request = pinned(target, address)
    assert str(request.url) == url
    assert request.host == host


def test_tls_names_the_targets_host_and_plain_http_names_none() -> None:
    assert pinned("https://Bücher.example/x", "203.0.113.5").server_name == "xn--bcher-kva.example"
    assert pinned("http://hooks.example/x", "203.0.113.5").server_name is None


SLACK = "https://hooks.slack.example/services/T0/B0/s3cr3t?token=t0k3n"
ENCODED = "https://hooks.example/pä th/s3cr3t?token=ä t0k3n"
LONG = "https://hooks.slack.example/services/T0/B0/" + "s3cr3t" * 100


@pytest.mark.parametrize(
    ("target", "sent_to"),
    [
        (SLACK, "https://203.0.113.5/services/T0/B0/s3cr3t?token=t0k3n"),
        (ENCODED, str(pinned(ENCODED, "203.0.113.5").url)),
        (LONG, "https://203.0.113.5/services/T0/B0/" + "s3cr3t" * 100),
    ],
    ids=["as given", "percent-encoded", "longer than the error kept"],
)
async def test_an_error_naming_the_url_keeps_no_credential_of_the_target(
    target: str, sent_to: str
) -> None:
    """aiohttp names the URL in some errors (a connection reset while sending the body); the
    error is stored, listed to every role and logged: the path and query must not be in it."""

    class Resetting(Senders):
        async def resolve_checked(self, url: str) -> list[str]:
            return ["203.0.113.5"]

        async def post_pinned(
            self, target: str, address: str, content: bytes, headers: dict[str, str]
        ) -> int:
            raise aiohttp.ClientOSError(f"Can not write request body for {sent_to}")

    outcome = await Resetting(NotifierSettings()).send("chat", target, {"text": "x"}, uuid4(), None)
    assert outcome.error is not None
    assert outcome.error.startswith("ClientOSError: Can not write request body for https://")
    assert "s3cr3t" not in outcome.error
    assert "t0k3n" not in outcome.error
    assert "T0/B0" not in outcome.error, "no part of it either"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "Cannot connect to host hooks.example:443 ssl:default [Connect call failed]",
            "Cannot connect to host hooks.example:443 ssl:default [Connect call failed]",
        ),
        ("refused: the file /in/v=1 is x", "refused: the file /in/v=1 is x"),
        (
            "400, message='Bad Request', url='https://203.0.113.5/in?v=1'",
            "400, message='Bad Request', url='https://203.0.113.5/…'",
        ),
    ],
    ids=["no URL", "a short path's text elsewhere", "a URL"],
)
def test_only_urls_and_the_whole_path_and_query_are_cut_from_an_error(
    text: str, shown: str
) -> None:
    assert without_credentials(text, "https://hooks.example/in?v=1") == shown


@pytest.mark.parametrize(
    ("target", "text"),
    [
        (ENCODED, f"fault sending to {ENCODED}"),
        ("https://hooks.example/a'b/s3cr3t-path", "url='https://203.0.113.5/a'b/s3cr3t-path'"),
        (SLACK, "a query alone: token=t0k3n"),
    ],
    ids=["a space in the path", "a quote in the path", "the query apart"],
)
def test_no_part_of_the_credential_is_left_where_a_url_stops_short(target: str, text: str) -> None:
    """A URL in text ends at a space or a quote; a target's path may hold either."""
    shown = without_credentials(text, target)
    assert "s3cr3t" not in shown
    assert "t0k3n" not in shown
