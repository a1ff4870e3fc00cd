"""Pure mapping from other tools' payloads (Alertmanager, PagerDuty) to Flare escalations.

Alertmanager labels choose the escalation's fields (documented in the README):
`flare_category`, `flare_product`, `flare_region`; `severity=critical` sets `imminent_harm`.
PagerDuty's `custom_details` may carry the same `flare_*` keys; `payload.severity` `critical`
sets `imminent_harm`. Text is cleaned rather than refused: a monitoring tool cannot fix its
payload, and one odd alert must not lose the others in its batch.
"""

import json
import re
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from services.intake.partners import Partner
from services.intake.schemas import AlertmanagerAlert, PagerDutyPayload
from shared.events import (
    COUNTRY_CODES,
    MAX_LABELS,
    Category,
    Escalation,
    Evidence,
    Product,
    Timestamp,
)

LABEL_KEY = re.compile(r"[A-Za-z0-9_.:/-]{1,100}")
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
COMPACT_OFFSET = re.compile(r"([+-]\d\d)(\d\d)$")
_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


def clean(text: str, limit: int) -> str:
    """Without NUL and unpaired surrogates (PostgreSQL refuses them), cut to `limit` characters."""
    return UNSTORABLE.sub("", text)[:limit]


def _title(*candidates: str | None) -> str:
    for candidate in candidates:
        title = clean(candidate or "", 200)
        if title.strip():
            return title
    return "Untitled alert"


def _choice(value: Any, allowed: type[Category] | type[Product]) -> str:
    """A known value, or `other`: PagerDuty's `custom_details` may hold any JSON there."""
    return value if isinstance(value, str) and value in {m.value for m in allowed} else "other"


def _labels(source: dict[str, Any]) -> dict[str, str]:
    kept = {
        key: clean(value if isinstance(value, str) else json.dumps(value), 500)
        for key, value in source.items()
        if LABEL_KEY.fullmatch(key)
    }
    return dict(sorted(kept.items())[:MAX_LABELS])


def _evidence(url: str | None) -> list[dict[str, str]]:
    """The link, if it is one: a URL is never cut (it would lead nowhere), only left out."""
    try:
        return [Evidence(url=url).model_dump(mode="json")] if url else []
    except ValidationError:
        return []


def _timestamp(value: str | None) -> datetime | None:
    """RFC 3339, or with its offset written `+0000` as PagerDuty's examples do; anything else,
    none (the report keeps its received time)."""
    try:
        return _TIMESTAMP.validate_python(COMPACT_OFFSET.sub(r"\1:\2", value)) if value else None
    except ValidationError:
        return None


def _fields(partner: Partner, flare: dict[str, Any], critical: bool) -> dict[str, Any]:
    """What the partner and the tool's `flare_*` keys decide, shared by both tools."""
    region = flare.get("flare_region")
    region = region if isinstance(region, str) and region in COUNTRY_CODES else None
    return {
        "category": _choice(flare.get("flare_category"), Category),
        "product": _choice(flare.get("flare_product"), Product),
        "reporter": {"type": partner.reporter_type.value, "name": partner.name},
        "region": region,
        "signals": {"imminent_harm": True} if critical else None,
    }


def from_alertmanager(partner: Partner, alert: AlertmanagerAlert) -> Escalation:
    """One firing alert; its fingerprint is the dedup key, so repeats join one case."""
    return Escalation.model_validate(
        {
            **_fields(partner, alert.labels, alert.labels.get("severity") == "critical"),
            "title": _title(alert.annotations.get("summary"), alert.labels.get("alertname")),
            "description": clean(alert.annotations.get("description", ""), 20_000),
            "dedup_key": alert.fingerprint,
            "occurred_at": _timestamp(alert.starts_at),
            "evidence": _evidence(alert.generator_url),
            "labels": _labels(alert.labels),
        }
    )


def from_pagerduty(partner: Partner, payload: PagerDutyPayload, dedup_key: str) -> Escalation:
    details = payload.custom_details or {}
    context = {"source": payload.source, "component": payload.component, "group": payload.group}
    described = "\n".join(f"{name}: {value}" for name, value in context.items() if value)
    if details:
        described += "\n" + json.dumps(details, indent=2, ensure_ascii=False, default=str)
    return Escalation.model_validate(
        {
            **_fields(partner, details, payload.severity == "critical"),
            "title": _title(payload.summary),
            "description": clean(described, 20_000),
            "dedup_key": dedup_key,
            "occurred_at": _timestamp(payload.timestamp),
            "labels": _labels(
                {
                    "pagerduty_severity": payload.severity,
                    "pagerduty_source": payload.source,
                    **({"pagerduty_class": payload.class_} if payload.class_ else {}),
                }
            ),
        }
    )
