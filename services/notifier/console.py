"""The responder console: one page (no data in it) that reads the APIs with a responder token.

The page keeps the token in the tab's sessionStorage and sends it on every call; it renders
with textContent only, so nothing from an event or the API is ever parsed as HTML. It reads
the live stream from this notifier and the cases, teams and reports from the router, at
`router_url` (empty when an ingress serves both under one host; see ADR 0008).
"""

import base64
import hashlib
import re
from html import escape
from urllib.parse import urlsplit

from services.notifier.console_script import CONSOLE_SCRIPT
from services.notifier.console_style import CONSOLE_STYLE

PLACEHOLDERS = re.compile("__ROUTER_URL__|__STYLE__|__SCRIPT__")
CONSOLE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="flare-router" content="__ROUTER_URL__">
<title>Flare console</title>
<style>__STYLE__</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <h1><a href="/">Flare</a></h1>
  <nav aria-label="Console" id="nav" hidden>
    <a href="/">Queue</a> <a href="/trends" id="nav-trends" hidden>Trends</a>
  </nav>
  <p id="live" role="status" aria-live="polite" class="live off">Not connected</p>
  <p id="who" hidden><span id="who-name"></span>
    <button type="button" id="sign-out">Sign out</button></p>
</header>
<main id="main">
<form id="sign-in" class="card" hidden>
  <h2>Sign in</h2>
  <p>Paste your responder token (from your lead, or
    <code>python -m services.router token mint NAME</code>).</p>
  <label for="token">Responder token</label>
  <input id="token" type="password" autocomplete="off" required>
  <button>Sign in</button>
  <div id="sign-in-error" role="alert"></div>
</form>
<section id="queue-view" hidden aria-labelledby="queue-heading">
  <h2 id="queue-heading">Open cases <span id="queue-count"></span></h2>
  <form id="filters" class="filters">
    <label>Team <select id="f-team"><option value="">all teams</option></select></label>
    <label>Severity <select id="f-severity"><option value="">any</option>
      <option value="SEV1">SEV1 only</option><option value="SEV2">SEV2 and worse</option>
      <option value="SEV3">SEV3 and worse</option></select></label>
    <label>Category <select id="f-category"><option value="">all</option></select></label>
    <label>Region <input id="f-region" size="4" maxlength="2" placeholder="FR"
      pattern="[A-Za-z]{2}" autocapitalize="characters"></label>
  </form>
  <div id="queue-error" role="alert"></div>
  <div class="scroll"><table id="queue">
    <caption class="visually-hidden">Open and acknowledged cases, most severe first</caption>
    <thead><tr><th scope="col">Severity</th><th scope="col">Case</th><th scope="col">Status</th>
    <th scope="col">Team / assignee</th><th scope="col">Category</th><th scope="col">Region</th>
    <th scope="col">SLA</th><th scope="col">Action</th></tr></thead>
    <tbody id="queue-rows"></tbody>
  </table></div>
  <p id="queue-empty" hidden>No open cases match. New ones appear here as they arrive.</p>
</section>
<section id="case-view" hidden aria-labelledby="case-heading"></section>
<section id="trends-view" hidden aria-labelledby="trends-heading">
  <h2 id="trends-heading">Trends and SLA</h2>
  <form id="period" class="filters">
    <label>From <input id="p-start" type="date" required></label>
    <label>To <input id="p-end" type="date" required></label>
    <button>Show</button>
    <button type="button" id="csv-trends">Download trends CSV</button>
    <button type="button" id="csv-sla">Download SLA CSV</button>
  </form>
  <div id="trends-error" role="alert"></div>
  <div id="charts" class="charts"></div>
  <div id="series"></div>
</section>
</main>
<script>__SCRIPT__</script>
</body>
</html>
"""


def console_page(router_url: str) -> str:
    """The page, told where the router's API is (empty: the page's own origin). Filled in one
    pass: a setting that holds a placeholder's name is not filled in again."""
    parts = {
        "__ROUTER_URL__": escape(router_url.rstrip("/")),
        "__STYLE__": CONSOLE_STYLE,
        "__SCRIPT__": CONSOLE_SCRIPT,
    }
    return PLACEHOLDERS.sub(lambda found: parts[found.group()], CONSOLE_HTML)


# The page's one script, by its hash: a script injected into the page (were anything ever
# rendered as HTML) would not run.
SCRIPT_SOURCE = (
    "'sha256-" + base64.b64encode(hashlib.sha256(CONSOLE_SCRIPT.encode()).digest()).decode() + "'"
)


def console_policy(router_url: str) -> str:
    """Content-Security-Policy: the page runs its own script only, and may talk to itself and
    to the router's origin only."""
    parts = urlsplit(router_url)
    router_origin = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return (
        f"default-src 'none'; script-src {SCRIPT_SOURCE}; style-src 'unsafe-inline'; "
        f"connect-src 'self'{router_origin}; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
