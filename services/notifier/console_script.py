"""The responder console's script: the API helper, sign-in, the live stream and the queue.

Plain JavaScript, no build step. Everything from the API is rendered with textContent.
The case view and the trends page are in console_views.py, spliced in before start-up.
"""

from services.notifier.console_views import VIEWS_SCRIPT

_SCRIPT = r"""
"use strict";
const $ = (id) => document.getElementById(id);
const ROUTER = document.querySelector('meta[name="flare-router"]').content;
const BANDS = ["SEV1", "SEV2", "SEV3", "SEV4"];
const CATEGORIES = ["crisis", "elections", "community_standards", "advertiser_policy",
  "commerce_policy", "intellectual_property", "legal_request", "law_enforcement",
  "press_inquiry", "partner_inquiry", "user_escalation", "other"];
const RESOLUTIONS = ["actioned", "no_action_needed", "duplicate", "referred_externally",
  "false_alarm"];
const ACTORS = ["responder", "lead", "admin"];
// The queue follows the router's pages up to this many cases per status, then says so.
const QUEUE_CAP = 5000;
const caseMatch = location.pathname.match(/^\/cases\/([0-9a-f-]{36})$/);
const cases = new Map();
const warned = new Set();
let token = sessionStorage.getItem("flare-token") || "";
let role = "";
let source = null;
let dropped = false;

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}
function claims(raw) {
  try {
    const part = raw.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
  } catch (error) { return null; }
}
class ProblemError extends Error {
  constructor(problem) { super(problem.title || "Error"); this.problem = problem; }
}
async function api(path, options = {}) {
  const headers = {
    authorization: "Bearer " + token, accept: options.accept || "application/json" };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(ROUTER + path, { method: options.method || "GET", headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  } catch (error) {
    throw new ProblemError({ title: "The router cannot be reached", detail: String(error) });
  }
  if (!response.ok) {
    let problem = { title: response.statusText, status: response.status };
    try { problem = await response.json(); } catch (error) { /* not problem+json */ }
    if (response.status === 401) signOut("Your token was refused: " + (problem.detail || ""));
    throw new ProblemError(problem);
  }
  return options.accept === "text/csv" ? response.blob() : response.json();
}
function problemBox(error) {
  const problem = error.problem || { title: String(error) };
  const box = el("div", { className: "problem" },
    el("strong", { textContent: problem.title || "Error" }),
    problem.status ? " (" + problem.status + ")" : "",
    problem.detail ? el("p", { textContent: problem.detail }) : null);
  for (const item of problem.errors || []) {
    const where = (item.loc || item.pointer || item.field || "");
    const text = [].concat(where).join(".") + ": " + (item.msg || item.detail || "");
    box.append(el("p", { textContent: text }));
  }
  return box;
}
function showError(target, error) { $(target).replaceChildren(problemBox(error)); }
function when(iso) { return iso ? new Date(iso).toLocaleString() : "-"; }
function band(severity) {
  return el("span", { className: "band " + (severity || ""), textContent: severity || "unscored" });
}

/* ---- sign-in ---- */
function signOut(message) {
  sessionStorage.removeItem("flare-token");
  token = "";
  if (source) source.close();
  $("sign-in").hidden = false;
  $("who").hidden = true; $("nav").hidden = true;
  for (const view of ["queue-view", "case-view", "trends-view"]) $(view).hidden = true;
  setLive(false, "Not connected");
  $("sign-in-error").replaceChildren(message ? problemBox({ problem: { title: message } }) : "");
  $("token").focus();
}
async function signIn(event) {
  if (event) event.preventDefault();
  const candidate = $("token").value.trim() || token;
  const who = claims(candidate);
  if (!who || !who.sub) { signOut("That is not a responder token."); return; }
  token = candidate;
  role = who.role || "responder";
  sessionStorage.setItem("flare-token", token);
  $("token").value = "";
  $("sign-in").hidden = true;
  $("who").hidden = false; $("nav").hidden = false;
  $("who-name").textContent = who.sub + " (" + role + ")";
  $("nav-trends").hidden = !["analyst", "lead", "admin"].includes(role);
  if (location.pathname === "/trends") showTrends();
  else if (caseMatch) showCase();
  else showQueue();
  connect();
}

/* ---- live stream ---- */
function setLive(on, text) {
  $("live").className = "live " + (on ? "on" : "off");
  $("live").textContent = text;
}
function connect() {
  if (source) source.close();
  source = new EventSource("/v1/stream?" + new URLSearchParams({ token }));
  source.onopen = () => {
    const at = new Date().toLocaleTimeString();
    setLive(true, dropped ? "Live again (reconnected " + at + ")" : "Live");
    if (dropped && !caseMatch && location.pathname === "/") loadQueue();
    dropped = false;
  };
  source.onerror = () => {
    dropped = true;
    setLive(false, "Connection lost, reconnecting…");
    // The browser retries network errors itself but gives up on an HTTP error (the notifier
    // refused the token, or a proxy answered): check the token, then connect again. Not by
    // this browser's clock, which may be wrong: the router refuses an expired token (after its
    // 30 s allowance), and the page signs out then.
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(() => api("/v1/teams").then(connect, () => {}), 3000);
    }
  };
  source.onmessage = (message) => onEvent(JSON.parse(message.data));
  // The notifier drops a client that falls too far behind, and says when events were missed.
  source.addEventListener("dropped", () => {
    dropped = true; setLive(false, "Dropped, reconnecting…"); setTimeout(connect, 1000);
  });
  source.addEventListener("gap", () => { if (!caseMatch) loadQueue(); });
  for (const type of ["created", "updated", "acknowledged", "resolved", "reassigned",
      "note_added", "surge", "sla_warning", "sla_breached", "reopened"]) {
    source.addEventListener("flare.case." + type, (message) => onEvent(JSON.parse(message.data)));
  }
}
function onEvent(event) {
  const snapshot = event.data && event.data.case;
  if (!snapshot) return;
  if (event.type === "flare.case.sla_warning") warned.add(snapshot.case_id);
  if (caseMatch) { if (snapshot.case_id === caseMatch[1]) showCase(); return; }
  const known = cases.get(snapshot.case_id);
  if (known && sortable(known.updated_at) > sortable(snapshot.updated_at)) return;
  if (snapshot.status === "resolved") cases.delete(snapshot.case_id);
  else cases.set(snapshot.case_id, Object.assign(snapshot, { fresh: !known }));
  renderQueue();
}

/* ---- queue ---- */
async function showQueue() {
  $("queue-view").hidden = false;
  fillSelect($("f-category"), CATEGORIES.map((c) => [c, c.replace(/_/g, " ")]));
  try {
    const teams = await api("/v1/teams");
    fillSelect($("f-team"), teams.map((team) => [team.name, team.name]));
  } catch (error) { showError("queue-error", error); }
  await loadQueue();
}
function fillSelect(select, options) {
  if (select.options.length > 1) return;
  for (const [value, label] of options) select.append(el("option", { value, textContent: label }));
}
async function loadQueue() {
  try {
    const capped = [];
    for (const status of ["open", "acknowledged"]) {
      let cursor = null, loaded = 0;
      do {
        const query = { status, limit: "200", ...(cursor ? { cursor } : {}) };
        const page = await api("/v1/cases?" + new URLSearchParams(query));
        for (const item of page.items) if (!cases.has(item.case_id)) cases.set(item.case_id, item);
        loaded += page.items.length; cursor = page.next_cursor;
      } while (cursor && loaded < QUEUE_CAP);
      if (cursor) capped.push(status);
    }
    $("queue-error").replaceChildren(...(capped.length ? [el("p", { className: "problem",
      textContent: "Showing the first " + QUEUE_CAP + " " + capped.join(" and ")
        + " cases; new ones still arrive live." })] : []));
  } catch (error) { showError("queue-error", error); }
  renderQueue();
}
function visible(item) {
  const team = $("f-team").value, severity = $("f-severity").value;
  const category = $("f-category").value, region = $("f-region").value.trim().toUpperCase();
  if (team && item.team !== team && !(item.watchers || []).includes(team)) return false;
  if (severity && (!item.severity || item.severity > severity)) return false;
  if (category && item.category !== category) return false;
  return !(region && item.region !== region);
}
function order(a, b) {
  const rank = (item) => (item.severity ? BANDS.indexOf(item.severity) : 9);
  return rank(a) - rank(b) || (sortable(a.created_at) < sortable(b.created_at) ? 1 : -1);
}
// A UTC time as text that sorts as the time: its fraction always six digits ("12:00:00Z"
// is earlier than "12:00:00.000001Z" but sorts after it; Date.parse keeps milliseconds only).
function sortable(time) {
  return time.replace(/(?:\.(\d+))?Z$/,
    (_, fraction) => "." + ((fraction || "") + "000000").slice(0, 6) + "Z");
}
function renderQueue() {
  const items = [...cases.values()].filter(visible).sort(order);
  $("queue-rows").replaceChildren(...items.map(queueRow));
  $("queue-count").textContent = "(" + items.length + ")";
  $("queue-empty").hidden = items.length > 0;
  document.title = "(" + items.length + ") Flare console";
  tick();
}
function labelled(label, ...children) {
  const td = el("td", {}, ...children); td.dataset.label = label; return td;
}
function queueRow(item) {
  const row = el("tr", { className: item.fresh ? "fresh" : "" });
  row.dataset.caseId = item.case_id;
  item.fresh = false;
  const link = el("a", { href: "/cases/" + item.case_id,
    textContent: item.sensitive ? "Sensitive case (content warning): open to view" : item.title });
  const sla = el("span", { className: "sla" }); sla.dataset.caseId = item.case_id;
  const action = labelled("Action");
  if (item.status === "open" && ACTORS.includes(role)) {
    const button = el("button",
      { type: "button", className: "primary", textContent: "Acknowledge" });
    const name = item.sensitive ? "sensitive case" : item.title;
    button.setAttribute("aria-label", "Acknowledge " + name);
    button.onclick = () => acknowledgeFromQueue(item, button);
    action.append(button);
  }
  row.append(labelled("Severity", band(item.severity)), labelled("Case", link,
      item.surge ? el("strong", { textContent: " surge" }) : null,
      item.report_count > 1 ? " · " + item.report_count + " reports" : ""),
    labelled("Status", item.status),
    labelled("Team", (item.team || "unassigned") + " / " + (item.assignee || "nobody")),
    labelled("Category", item.category.replace(/_/g, " ")), labelled("Region", item.region || "-"),
    labelled("SLA", sla), action);
  return row;
}
async function acknowledgeFromQueue(item, button) {
  button.disabled = true;
  try {
    const path = "/v1/cases/" + item.case_id + "/acknowledge";
    const snapshot = await api(path, { method: "POST", body: {} });
    cases.set(snapshot.case_id, snapshot);
    renderQueue();
    $("queue-error").replaceChildren(el("p", { className: "ok", role: "status",
      textContent: "Acknowledged: " + (snapshot.sensitive ? "sensitive case" : snapshot.title) }));
  } catch (error) { button.disabled = false; showError("queue-error", error); }
}
function slaState(item, now) {
  const target = item.status === "open" ? "ack" : "resolve";
  const due = item[target + "_due_at"];
  if (!due) return null;
  const left = new Date(due) - now;
  const window = new Date(due) - new Date(item.created_at);
  // Amber in the last quarter of the window, or once the router has sent its SLA warning.
  const late = left <= window * 0.25 || (warned.has(item.case_id) && target === "ack");
  const state = left < 0 ? "breached" : late ? "warning" : "on-time";
  return { target, left, state };
}
function duration(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h >= 48) return Math.floor(h / 24) + "d " + (h % 24) + "h";
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + r + "s";
}
function tick() {
  const now = new Date();
  for (const span of document.querySelectorAll(".sla[data-case-id]")) {
    const item = cases.get(span.dataset.caseId);
    const sla = item && slaState(item, now);
    if (!sla) { span.textContent = "no SLA"; continue; }
    span.className = "sla " + sla.state;
    const what = sla.target === "ack" ? "ack" : "resolve";
    span.textContent = sla.state === "breached" ? what + " overdue by " + duration(sla.left)
      : what + " in " + duration(sla.left) + (sla.state === "warning" ? " (warning)" : "");
  }
}
setInterval(tick, 1000);

/* ---- case view and trends: console_views.py ---- */
__VIEWS__
$("sign-in").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", () => signOut(""));
$("filters").addEventListener("input", renderQueue);
$("filters").addEventListener("submit", (event) => event.preventDefault());
$("period").addEventListener("submit", (event) => { event.preventDefault(); showTrends(); });
$("csv-trends").addEventListener("click", () => downloadCsv("trends"));
$("csv-sla").addEventListener("click", () => downloadCsv("sla"));
if (token) signIn(); else signOut("");
"""

CONSOLE_SCRIPT = _SCRIPT.replace("__VIEWS__", VIEWS_SCRIPT)
