"""What an alert says on each channel: webhook JSON, chat (Slack blocks), email; pure, no I/O.

Short and scannable: severity, title, team, a link into the console. A sensitive case (evidence
marked sensitive, minors involved, or a category configured as sensitive) never carries its
title or any free text outside the console: only the link and a content warning. The event's
`detail` (notes, reasons) never leaves the console on any channel.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.events import CaseEvent, CaseSnapshot, EmergingRisk, EventType

CONTENT_WARNING = (
    "Content warning: this case involves sensitive material. "
    "Details are only shown in the console, behind responder sign-in."
)
HEADLINES = {
    "flare.case.created": "New case",
    "flare.case.updated": "Case updated",
    "flare.case.acknowledged": "Case acknowledged",
    "flare.case.resolved": "Case resolved",
    "flare.case.reassigned": "Case reassigned",
    "flare.case.note_added": "Note added",
    "flare.case.surge": "Surge on case",
    "flare.case.sla_warning": "SLA at risk",
    "flare.case.sla_breached": "SLA breached",
    "flare.escalation.page": "Page: not acknowledged yet",
}


@dataclass(frozen=True)
class Alert:
    """The channel-neutral facts an alert may show, already stripped of sensitive text."""

    event_type: str
    headline: str
    case_id: str
    status: str
    severity: str
    team: str
    category: str
    product: str
    link: str
    title: str | None  # None when the case is sensitive
    content_warning: str | None

    @property
    def label(self) -> str:
        return self.title if self.title is not None else "Sensitive case (see console)"


def is_sensitive(case: CaseSnapshot, sensitive_categories: Collection[str]) -> bool:
    return case.sensitive or case.category.value in sensitive_categories


def make_alert(
    event_type: str, event: CaseEvent, console_url: str, sensitive_categories: Collection[str]
) -> Alert:
    case = event.case
    sensitive = is_sensitive(case, sensitive_categories)
    return Alert(
        event_type=event_type,
        headline=HEADLINES.get(event_type, event_type),
        case_id=str(case.case_id),
        status=case.status.value,
        severity=case.severity.value if case.severity else "unscored",
        team=case.team or "unassigned",
        category=case.category.value,
        product=case.product.value,
        link=f"{console_url.rstrip('/')}/cases/{case.case_id}",
        title=None if sensitive else case.title,
        content_warning=CONTENT_WARNING if sensitive else None,
    )


def webhook_body(alert: Alert, occurred_at: datetime) -> dict[str, Any]:
    """The Standard Webhooks payload shape: {type, timestamp, data}."""
    data: dict[str, Any] = {
        "case_id": alert.case_id,
        "status": alert.status,
        "severity": alert.severity,
        "team": alert.team,
        "category": alert.category,
        "product": alert.product,
        "link": alert.link,
        "sensitive": alert.title is None,
    }
    if alert.title is not None:
        data["title"] = alert.title
    if alert.content_warning is not None:
        data["content_warning"] = alert.content_warning
    return {"type": alert.event_type, "timestamp": occurred_at.isoformat(), "data": data}


def _mrkdwn_escaped(text: str) -> str:
    """Slack reads &, < and > as markup: a partner's title must not ping @channel or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chat_body(alert: Alert) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body: `text` for notifications, `blocks` to read."""
    summary = _mrkdwn_escaped(f"[{alert.severity}] {alert.headline}: {alert.label} ({alert.team})")
    fields = [
        {"type": "mrkdwn", "text": f"*Severity*\n{alert.severity}"},
        {"type": "mrkdwn", "text": f"*Team*\n{alert.team}"},
        {"type": "mrkdwn", "text": f"*Status*\n{alert.status}"},
        {"type": "mrkdwn", "text": f"*Category*\n{alert.category}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": summary[:150]}},
        {"type": "section", "fields": fields},
    ]
    if alert.content_warning:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": alert.content_warning}]}
        )
    blocks.append(
        {"type": "section", "text": {"type": "mrkdwn", "text": f"<{alert.link}|Open in console>"}}
    )
    return {"text": f"{summary} {alert.link}", "blocks": blocks}


def email_message(alert: Alert) -> tuple[str, str]:
    """(subject, plain-text body)."""
    # One line: a title may hold line breaks, which a mail header cannot.
    subject = " ".join(f"[Flare {alert.severity}] {alert.headline}: {alert.label}".split())
    lines = [
        f"{alert.headline} — {alert.severity}, team {alert.team}",
        "",
        f"Case:     {alert.label}",
        f"Status:   {alert.status}",
        f"Category: {alert.category} ({alert.product})",
        "",
        f"Open in the console: {alert.link}",
    ]
    if alert.content_warning:
        lines += ["", alert.content_warning]
    return subject[:200], "\n".join(lines) + "\n"


def render_risk(
    channel: str,
    risk: EmergingRisk,
    console_url: str,
    sensitive_categories: Collection[str],
    occurred_at: datetime,
) -> dict[str, Any]:
    """An emerging risk (a surge of reports across one region and category, or on one subject)
    on a channel. It carries no report's text: a count, a category, a region if known, a
    window, and a link to the console: its trends, or the case a subject's surge raised, with
    the content warning when that case is sensitive."""
    where = f" from {risk.region}" if risk.region else ""
    warning = None
    if risk.case_id is None:
        link, action = f"{console_url.rstrip('/')}/trends", "Open the trends"
        about = f"{risk.category.value} reports{where}"
    else:
        link, action = f"{console_url.rstrip('/')}/cases/{risk.case_id}", "Open the case"
        about = f"{risk.category.value} reports{where} on one subject"
        if risk.sensitive or risk.category.value in sensitive_categories:
            warning = CONTENT_WARNING
    summary = f"Emerging risk: {risk.report_count} {about} within {risk.window_minutes} min"
    if channel == "email":
        since = risk.window_start.isoformat(timespec="minutes")
        text = f"{summary}, since {since}.\n\n{action} in the console: {link}\n"
        text += f"\n{warning}\n" if warning else ""
        return {"subject": f"[Flare] {summary}"[:200], "text": text}
    if channel == "chat":
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": summary[:150]}},
        ]
        if warning:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": warning}]})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|{action}>"}})
        return {"text": f"{_mrkdwn_escaped(summary)} {link}", "blocks": blocks}
    data = {**risk.model_dump(mode="json"), "sensitive": warning is not None, "link": link}
    if warning:
        data["content_warning"] = warning
    return {
        "type": EventType.RISK_EMERGING.value,
        "timestamp": occurred_at.isoformat(),
        "data": data,
    }


def render(channel: str, alert: Alert, occurred_at: datetime) -> dict[str, Any]:
    """The body a channel sends; rendered once and stored, so every retry sends the same."""
    if channel == "email":
        subject, text = email_message(alert)
        return {"subject": subject, "text": text}
    if channel == "chat":
        return chat_body(alert)
    return webhook_body(alert, occurred_at)
