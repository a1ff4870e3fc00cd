"""The responder console: one static page (no data in it) that reads the API with a token.

The page keeps the responder token in the tab's sessionStorage and sends it on every call;
it renders with textContent only, so nothing from an event is ever parsed as HTML. A sensitive
case's title stays hidden behind its content warning until the responder chooses to see it.
"""

CONSOLE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Flare console</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; }
  header, form { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
  input, select, button { font: inherit; padding: .25rem .5rem; }
  table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; }
  .SEV1 { color: #b00020; font-weight: 700; } .SEV2 { color: #c05600; font-weight: 600; }
  .warning { background: #fff4e5; border: 1px solid #f0a030; padding: .5rem; }
  #status { color: #666; }
</style>
</head>
<body>
<header><h1>Flare</h1><span id="status">not connected</span></header>
<form id="connect">
  <input id="token" type="password" placeholder="responder token" size="30" required>
  <input id="teams" placeholder="teams, comma-separated" size="28">
  <select id="severity"><option value="">any severity</option>
    <option>SEV1</option><option>SEV2</option><option>SEV3</option></select>
  <button>Connect</button>
</form>
<section id="case" hidden></section>
<table><thead><tr><th>time</th><th>event</th><th>severity</th><th>team</th><th>case</th>
</tr></thead><tbody id="events"></tbody></table>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const caseMatch = location.pathname.match(/^\\/cases\\/([0-9a-f-]{36})$/);
$("token").value = sessionStorage.getItem("flare-token") || "";

function cell(row, text, cls) {
  const td = row.insertCell(); td.textContent = text ?? "-"; if (cls) td.className = cls;
  return td;
}
function titleOf(snapshot, container) {
  if (!snapshot.sensitive) { container.textContent = snapshot.title; return; }
  const reveal = document.createElement("button");
  reveal.textContent = "Content warning: sensitive case. Show title";
  reveal.onclick = () => { container.textContent = snapshot.title; };
  container.replaceChildren(reveal);
}
function show(event) {
  const snapshot = event.data && event.data.case;
  if (!snapshot) return;
  if (caseMatch && snapshot.case_id !== caseMatch[1]) return;
  const row = $("events").insertRow(0);
  cell(row, new Date(event.time).toLocaleTimeString());
  cell(row, event.type.replace("flare.case.", ""));
  cell(row, snapshot.severity, snapshot.severity);
  cell(row, snapshot.team);
  const link = document.createElement("a");
  link.href = "/cases/" + snapshot.case_id;
  titleOf(snapshot, link);
  row.insertCell().append(link);
}
async function loadCase(token) {
  const response = await fetch("/v1/cases/" + caseMatch[1],
    { headers: { authorization: "Bearer " + token } });
  const section = $("case"); section.hidden = false;
  if (!response.ok) { section.textContent = "Case not found (" + response.status + ")"; return; }
  const view = await response.json(); const snapshot = view.case;
  const heading = document.createElement("h2"); titleOf(snapshot, heading);
  const facts = document.createElement("p");
  facts.textContent = [snapshot.severity, snapshot.status, snapshot.team, snapshot.category,
    "assignee: " + (snapshot.assignee || "none")].join(" · ");
  section.replaceChildren(heading, facts);
  if (snapshot.sensitive) {
    const warning = document.createElement("p"); warning.className = "warning";
    warning.textContent = "This case involves sensitive material. Evidence opens only here.";
    section.append(warning);
  }
}
let source = null;
function connect(submitted) {
  if (submitted) submitted.preventDefault();
  const token = $("token").value.trim();
  if (!token) return;
  sessionStorage.setItem("flare-token", token);
  const query = new URLSearchParams({ token });
  $("teams").value.split(",").map((t) => t.trim()).filter(Boolean)
    .forEach((team) => query.append("team", team));
  if ($("severity").value) query.set("min_severity", $("severity").value);
  if (source) source.close();
  source = new EventSource("/v1/stream?" + query);
  source.onopen = () => { $("status").textContent = "live"; };
  source.onerror = () => { $("status").textContent = "reconnecting…"; };
  const handle = (message) => show(JSON.parse(message.data));
  for (const type of ["created", "updated", "acknowledged", "resolved", "reassigned",
      "note_added", "surge", "sla_warning", "sla_breached"]) {
    source.addEventListener("flare.case." + type, handle);
  }
  if (caseMatch) loadCase(token);
}
$("connect").addEventListener("submit", connect);
if ($("token").value) connect();
</script>
</body>
</html>
"""
