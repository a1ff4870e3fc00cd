"""The responder console's case view (actions, content warning) and trends page, in JavaScript.

Part of the script in console_script.py; it uses that part's helpers (api, el, band, when).
"""

VIEWS_SCRIPT = r"""
/* ---- case view ---- */
let revealed = false;
async function showCase() {
  const section = $("case-view");
  section.hidden = false;
  let detail;
  try { detail = await api("/v1/cases/" + caseMatch[1]); }
  catch (error) {
    section.replaceChildren(
      el("h2", { id: "case-heading", textContent: "Case" }), problemBox(error));
    return;
  }
  renderCase(section, detail);
}
// Live events re-render the case in place: the parts are replaced, the action forms only
// when the status changes, so a live update never wipes what the responder is typing.
let formsFor = null;
function caseSkeleton(section) {
  formsFor = null;
  section.replaceChildren(el("h2", { id: "case-heading", tabIndex: -1 }),
    el("div", { id: "case-result", role: "status" }), el("div", { id: "case-warning" }),
    el("div", { className: "grid" }, el("div", { className: "card", id: "case-facts" }),
      el("div", { className: "card actions", id: "case-actions" })),
    el("div", { className: "grid", id: "case-why" }), el("div", { id: "case-evidence" }),
    el("div", { id: "case-timeline" }));
}
function renderCase(section, detail) {
  const c = detail.case;
  if (!$("case-facts")) caseSkeleton(section);
  $("case-heading").replaceChildren(band(c.severity), " ",
    c.sensitive && !revealed ? "Sensitive case" : c.title);
  const facts = el("dl", { className: "facts" });
  const fact = (name, value) => facts.append(el("dt", { textContent: name }),
    el("dd", {}, value === null || value === undefined || value === "" ? "-" : value));
  fact("Status", c.status + (c.resolution_code ? " (" + c.resolution_code + ")" : ""));
  fact("Severity / score", (c.severity || "unscored") + " / " + (c.score ?? "-"));
  fact("Team", c.team); fact("Assignee", c.assignee || "nobody");
  fact("Watchers", (c.watchers || []).join(", ") || "none");
  fact("Category", c.category.replace(/_/g, " ")); fact("Product", c.product);
  fact("Region", c.region); fact("Reports", String(c.report_count) + (c.surge ? " (surge)" : ""));
  fact("Velocity",
    c.velocity_per_hour != null ? c.velocity_per_hour.toFixed(1) + " reports/hour" : null);
  fact("First / last seen", when(c.first_seen_at) + " / " + when(c.last_seen_at));
  fact("Acknowledge by", when(c.ack_due_at)); fact("Resolve by", when(c.resolve_due_at));
  fact("Opened", when(c.created_at));
  if (c.previous_case_id) {
    const href = "/cases/" + c.previous_case_id;
    fact("Follows", el("a", { href, textContent: "previous case" }));
  }
  const warning = sensitivePart(section, detail);
  $("case-warning").replaceChildren(...(warning ? [warning] : []));
  $("case-facts").replaceChildren(el("h3", { textContent: "Case" }), facts);
  if (formsFor !== c.status) {
    formsFor = c.status;
    $("case-actions").replaceChildren(el("h3", { textContent: "Actions" }), ...actionForms(c));
  }
  $("case-why").replaceChildren(explanationCard(detail), reportsCard(detail));
  $("case-timeline").replaceChildren(timelineCard(detail));
  showEvidence(c);
}
// Evidence comes from its own endpoint, fetched only once the case may be seen: at once for
// an ordinary case, after the click-through for a sensitive one (nothing loads before it).
let evidenceFor = null;
async function showEvidence(c) {
  const box = $("case-evidence");
  if (c.sensitive && !revealed) { evidenceFor = null; box.replaceChildren(); return; }
  const key = c.case_id + "/" + c.report_count;
  if (evidenceFor === key) return;
  evidenceFor = key;
  try {
    const items = await api("/v1/cases/" + c.case_id + "/evidence");
    box.replaceChildren(evidenceCard(items));
  } catch (error) { evidenceFor = null; box.replaceChildren(problemBox(error)); }
}
function evidenceCard(items) {
  const card = el("div", { className: "card" },
    el("h3", { textContent: "Evidence (" + items.length + ")" }));
  if (!items.length) card.append(el("p", { textContent: "The reports sent no evidence." }));
  const safe = (url) => /^https?:\/\//i.test(url);
  const link = (url) => (safe(url)
    ? el("a", { href: url, textContent: url, target: "_blank", rel: "noopener noreferrer" }) : url);
  const kind = (item) => item.kind + (item.sensitive ? ", sensitive" : "");
  card.append(el("ul", { id: "evidence" }, ...items.map((item) => el("li", {},
    el("span", { className: "tag", textContent: kind(item) }), " ", link(item.url),
    " (report " + item.escalation_id.slice(0, 8) + ")"))));
  return card;
}
function sensitivePart(section, detail) {
  if (!detail.case.sensitive) return null;
  const box = el("div", { className: "warning-box", id: "content-warning" });
  if (revealed) {
    box.append(el("p", { textContent: "Sensitive content is shown below. It may be graphic "
        + "or concern minors or personal data; evidence links open the partner's copy." }));
    return box;
  }
  const reveal = el("button",
    { type: "button", id: "reveal", textContent: "I understand, show the sensitive content" });
  reveal.onclick = () => {
    revealed = true; renderCase(section, detail); $("case-heading").focus();
  };
  box.append(el("strong", { textContent: "Content warning" }),
    el("p", { textContent: "This case is marked sensitive (graphic media, minors or personal "
      + "data). The title and evidence stay hidden until you choose to see them." }),
    reveal);
  return box;
}
function actionForms(c) {
  const forms = [];
  const act = (path, body, message) => async (event) => {
    event.preventDefault();
    const result = $("case-result");
    try {
      await api("/v1/cases/" + c.case_id + path, { method: "POST", body: body() });
      event.target.reset();
      await showCase();
      $("case-result").replaceChildren(el("p", { className: "ok", textContent: message }));
    } catch (error) { result.replaceChildren(problemBox(error)); }
  };
  const field = (label, input) => el("label", {}, label, input);
  if (!ACTORS.includes(role)) {
    return [el("p", { textContent: "Your role (" + role + ") can read cases, not change them." })];
  }
  if (c.status === "open") {
    forms.push(el("form", { onsubmit: act("/acknowledge", () => ({}), "Acknowledged.") },
      el("button", { className: "primary", id: "acknowledge", textContent: "Acknowledge" })));
  }
  if (c.status !== "resolved") {
    const code = el("select", { id: "resolution-code" },
      ...RESOLUTIONS.map((r) => el("option", { value: r, textContent: r.replace(/_/g, " ") })));
    const summary = el("input", { id: "resolution-summary", maxLength: 2000 });
    const resolveBody = () => ({ code: code.value, summary: summary.value });
    forms.push(el("form", { onsubmit: act("/resolve", resolveBody, "Resolved.") },
      field("Resolution", code), field("Summary", summary),
      el("button", { textContent: "Resolve" })));
    if (["lead", "admin"].includes(role)) {
      const team = el("input", { id: "reassign-team" });
      const who = el("input", { id: "reassign-responder" });
      const reason = el("input", { id: "reassign-reason", required: true });
      forms.push(el("form", { onsubmit: act("/reassign", () => ({ team: team.value || null,
          responder: who.value || null, reason: reason.value }), "Reassigned.") },
        field("To team", team), field("To responder", who), field("Reason", reason),
        el("button", { textContent: "Reassign" })));
    }
  }
  const note = el("textarea", { id: "note-text", rows: 2, required: true, maxLength: 5000 });
  forms.push(el("form", { onsubmit: act("/notes", () => ({ text: note.value }), "Note added.") },
    field("Note", note), el("button", { textContent: "Add note" })));
  return forms;
}
function explanationCard(detail) {
  const e = detail.explanation || {};
  const hidden = detail.case.sensitive && !revealed;
  const rows = (e.rules || []).map((rule) => el("tr", {},
    el("td", { textContent:
      hidden && rule.name.startsWith("keyword") ? "(keyword hidden)" : rule.name }),
    el("td", { textContent: rule.kind || "" }),
    el("td", { textContent: (rule.contribution > 0 ? "+" : "") + rule.contribution })));
  return el("div", { className: "card" }, el("h3", { textContent: "Why this severity" }),
    el("p", { textContent: "Score " + (e.score ?? "-") + " → " + (e.severity || "-")
      + ", policy " + (e.policy_version || detail.case.policy_version || "-") }),
    el("table", {}, headings("Rule", "Kind", "Points"),
      el("tbody", {}, ...rows)));
}
function reportsCard(detail) {
  const title = "Correlated reports (" + detail.reports.length + ")";
  return el("div", { className: "card" }, el("h3", { textContent: title }),
    el("table", {}, headings("Received", "Score", "Severity", "Report"),
      el("tbody", {}, ...detail.reports.map((r) => el("tr", {},
        el("td", { textContent: when(r.received_at) }),
        el("td", { textContent: r.score }), el("td", {}, band(r.severity)),
        el("td", { textContent: r.escalation_id.slice(0, 8) }))))));
}
function headings(...names) {
  const cells = names.map((h) => el("th", { scope: "col", textContent: h }));
  return el("thead", {}, el("tr", {}, ...cells));
}
function timelineCard(detail) {
  const said = (d) => [d.code, d.text || d.note || d.reason || d.summary]
    .filter(Boolean).join(": ");
  const list = el("ol", { id: "timeline" }, ...detail.timeline.map((t) => el("li", {},
    el("time", { dateTime: t.at, textContent: when(t.at) }),
    " " + t.actor + ": " + t.action.replace(/_/g, " "),
    t.detail && said(t.detail) ? " (" + said(t.detail) + ")" : "")));
  return el("div", { className: "card" }, el("h3", { textContent: "Timeline" }), list);
}

/* ---- trends ---- */
function isoDay(date) { return date.toISOString().slice(0, 10); }
async function showTrends() {
  $("trends-view").hidden = false;
  if (!$("p-start").value) {
    $("p-end").value = isoDay(new Date());
    $("p-start").value = isoDay(new Date(Date.now() - 13 * 86400000));
  }
  const query = "?" + new URLSearchParams({ start: $("p-start").value, end: $("p-end").value });
  try {
    const [trends, sla] = await Promise.all(
      [api("/v1/reports/trends" + query), api("/v1/reports/sla" + query)]);
    $("trends-error").replaceChildren();
    const attainment = sla.teams.map((t) => ({ key: t.team,
      count: t.cases ? Math.round(100 * (t.cases - t.ack_breaches) / t.cases) : 100 }));
    $("charts").replaceChildren(chart("Escalations per day", trends.by_day),
      chart("By category", trends.by_category), chart("By region", trends.by_region),
      chart("By severity", trends.by_severity),
      chart("Emerging risks: reports in a region and category, by window",
        trends.emerging_risks, 0, "No emerging risks in this period."),
      chart("Acknowledgement SLA not breached, by team (%)", attainment, 100));
    const days = daysOf(trends.start, trends.end);
    $("series").replaceChildren(
      series("Escalations over time by category", "series-category", trends.by_day_category, days),
      series("Escalations over time by region", "series-region", trends.by_day_region, days));
  } catch (error) { showError("trends-error", error); }
}
function daysOf(start, end) {
  const days = [];
  for (let day = new Date(start); isoDay(day) <= end; day.setUTCDate(day.getUTCDate() + 1)) {
    days.push(isoDay(day));
  }
  return days;
}
// A table with one row per category (or region) and one column per day; each cell shows its
// count as a number and, shaded, against the busiest cell: readable without colour.
function series(title, id, items, days) {
  const counts = new Map(items.map((i) => [i.key + "|" + i.day, i.count]));
  const totals = new Map();
  for (const i of items) totals.set(i.key, (totals.get(i.key) || 0) + i.count);
  const keys = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a) || (a < b ? -1 : 1));
  const top = Math.max(1, ...items.map((i) => i.count));
  const rows = keys.map((key) => el("tr", {},
    el("th", { scope: "row", textContent: key.replace(/_/g, " ") }),
    ...days.map((day) => {
      const count = counts.get(key + "|" + day) || 0;
      const cell = el("td", { className: "heat", textContent: count ? String(count) : "" });
      cell.style.background = count ? "rgba(37, 99, 235, " + (0.12 + 0.6 * count / top) + ")" : "";
      return cell;
    }),
    el("td", { className: "value", textContent: String(totals.get(key)) })));
  const table = el("table", { id },
    el("caption", { textContent: title }),
    headings("", ...days.map((day) => day.slice(5)), "Total"), el("tbody", {}, ...rows));
  const card = el("div", { className: "card scroll" }, table);
  if (!keys.length) card.append(el("p", { textContent: "No cases in this period." }));
  return card;
}
function chart(title, items, max, empty) {
  const top = max || Math.max(1, ...items.map((i) => i.count));
  const figure = el("figure", { className: "card" },
    el("figcaption", {}, el("strong", { textContent: title })));
  if (!items.length) figure.append(el("p", { textContent: empty || "No cases in this period." }));
  for (const item of items) {
    const bar = el("div", { className: "bar" }); bar.style.width = (100 * item.count / top) + "%";
    bar.setAttribute("aria-hidden", "true");
    figure.append(el("div", { className: "bar-row" },
      el("span", { textContent: item.key.replace(/_/g, " ") }),
      bar, el("span", { className: "value", textContent: String(item.count) })));
  }
  return figure;
}
async function downloadCsv(report) {
  const query = "?" + new URLSearchParams({ start: $("p-start").value, end: $("p-end").value });
  try {
    const blob = await api("/v1/reports/" + report + query, { accept: "text/csv" });
    const link = el("a", { href: URL.createObjectURL(blob),
      download: "flare-" + report + "-" + $("p-start").value + "-" + $("p-end").value + ".csv" });
    document.body.append(link); link.click(); link.remove();
  } catch (error) { showError("trends-error", error); }
}

"""
