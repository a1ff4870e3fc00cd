"""The wire: topic names, CloudEvent types and the JSON bodies of every event, in one place."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StrictBool,
    StrictInt,
    TypeAdapter,
    model_validator,
)


@dataclass(frozen=True)
class Topics:
    escalations: str
    cases: str
    dlq: str

    @classmethod
    def with_prefix(cls, prefix: str) -> "Topics":
        return cls(
            escalations=f"{prefix}flare.escalations.received.v1",
            cases=f"{prefix}flare.cases.v1",
            dlq=f"{prefix}flare.dlq.v1",
        )

    def partition_counts(self) -> dict[str, int]:
        """Partitions per topic: the unit of parallelism for consumers of each."""
        return {self.escalations: 12, self.cases: 12, self.dlq: 3}


class EventType(StrEnum):
    ESCALATION_RECEIVED = "flare.escalation.received"
    # The partner's tool (Alertmanager, PagerDuty) resolved the alert behind these reports.
    ESCALATION_RESOLVED = "flare.escalation.resolved"
    # Every case event carries a CaseEvent body, keyed by case id on the cases topic.
    CASE_CREATED = "flare.case.created"
    CASE_UPDATED = "flare.case.updated"  # a correlated report joined, or the case was re-scored
    CASE_ACKNOWLEDGED = "flare.case.acknowledged"
    CASE_RESOLVED = "flare.case.resolved"
    CASE_REASSIGNED = "flare.case.reassigned"
    CASE_NOTE_ADDED = "flare.case.note_added"
    CASE_SURGE = "flare.case.surge"
    CASE_SLA_WARNING = "flare.case.sla_warning"
    CASE_SLA_BREACHED = "flare.case.sla_breached"
    RISK_EMERGING = "flare.risk.emerging"  # a surge in one region and category, or on one subject


def is_case_event(event_type: str) -> bool:
    """Whether an event's body is a CaseEvent (others on the cases topic, e.g. emerging risks,
    are not about one case)."""
    return event_type.startswith("flare.case.")


class Category(StrEnum):
    CRISIS = "crisis"
    ELECTIONS = "elections"
    COMMUNITY_STANDARDS = "community_standards"
    ADVERTISER_POLICY = "advertiser_policy"
    COMMERCE_POLICY = "commerce_policy"
    INTELLECTUAL_PROPERTY = "intellectual_property"
    LEGAL_REQUEST = "legal_request"
    LAW_ENFORCEMENT = "law_enforcement"
    PRESS_INQUIRY = "press_inquiry"
    PARTNER_INQUIRY = "partner_inquiry"
    USER_ESCALATION = "user_escalation"
    OTHER = "other"


class Product(StrEnum):
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    MESSENGER = "messenger"
    WHATSAPP = "whatsapp"
    THREADS = "threads"
    OTHER = "other"


class ReporterType(StrEnum):
    TRUSTED_FLAGGER = "trusted_flagger"
    LAW_ENFORCEMENT = "law_enforcement"
    GOVERNMENT = "government"
    NGO = "ngo"
    PRESS = "press"
    RIGHTS_HOLDER = "rights_holder"
    ADVERTISER = "advertiser"
    PARTNER = "partner"
    USER = "user"
    INTERNAL = "internal"
    MONITORING = "monitoring"


class WireModel(BaseModel):
    """Events are immutable facts; unknown fields are refused so schema drift is loud."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ISO 3166-1 alpha-2, the officially assigned codes, plus XK (Kosovo: user-assigned, but used
# by the EU, CLDR and every platform's region data).
COUNTRY_CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA
    ZM ZW
    """.split()  # noqa: SIM905 - a block of codes reads better than 250 lines of strings
)
# BCP 47 (RFC 5646) well-formed language tags: language[-script][-region](-variant)*
# (-extension)*[-privateuse], or a private-use tag alone. Grandfathered irregular tags are refused.
BCP47 = re.compile(
    r"(?:(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})(?:-[A-Za-z]{4})?"
    r"(?:-(?:[A-Za-z]{2}|[0-9]{3}))?(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
    r"(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*(?:-[Xx](?:-[A-Za-z0-9]{1,8})+)?"
    r"|[Xx](?:-[A-Za-z0-9]{1,8})+)"
)
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(value: str) -> str:
    """PostgreSQL's JSONB refuses NUL and UTF-8 refuses lone surrogates: reject them here."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if _SURROGATE.search(value):
        raise ValueError("must not contain unpaired surrogates")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _http_url(value: str) -> str:
    """An absolute http(s) URL; kept as sent, so the wire carries exactly what the partner wrote."""
    _HTTP_URL.validate_python(value)
    return value


def _rfc3339(value: object) -> object:
    """Only RFC 3339 strings with an offset (or datetimes built in Python): no epoch numbers."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and RFC3339.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with a time zone, e.g. 2026-05-01T12:00:00Z")


# Far enough either way for any report, near enough that arithmetic on a time (a deadline less
# a margin, a conversion to UTC) stays within what a datetime holds: year 1 or 9999 overflowed.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be in the years 1970 to 2199")
    return value


def _country(value: str) -> str:
    if value not in COUNTRY_CODES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code in upper case, e.g. DE")
    return value


def _language(value: str) -> str:
    if not BCP47.fullmatch(value):
        raise ValueError("must be a BCP 47 language tag, e.g. en, pt-BR, zh-Hant-TW")
    return value


STORABLE = AfterValidator(_storable)
Name = Annotated[str, Field(min_length=1, max_length=200), STORABLE, AfterValidator(_not_blank)]
Identifier = Annotated[str, Field(min_length=1, max_length=200), STORABLE]
# As long as PagerDuty's, whose dedup keys become ours.
DedupKey = Annotated[str, Field(min_length=1, max_length=255), STORABLE]
Url = Annotated[
    str,
    Field(max_length=2048, json_schema_extra={"format": "uri"}),
    STORABLE,
    AfterValidator(_http_url),
]
PLAUSIBLE = AfterValidator(_plausible)
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339), PLAUSIBLE]
Moment = Annotated[AwareDatetime, PLAUSIBLE]  # any ISO 8601 form, for the APIs' parameters
Region = Annotated[str, Field(min_length=2, max_length=2), AfterValidator(_country)]
Language = Annotated[str, Field(min_length=1, max_length=35), AfterValidator(_language)]
LabelKey = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:/-]+$")]
LabelValue = Annotated[str, Field(max_length=500), STORABLE]
MAX_LABELS = 50
MAX_EVIDENCE = 50


class Reporter(WireModel):
    type: ReporterType
    name: Name


class Subject(WireModel):
    url: Url | None = None
    content_id: Identifier | None = None
    account_id: Identifier | None = None


class Signals(WireModel):
    """What the partner knows about the harm; the router's severity policy weighs these."""

    imminent_harm: StrictBool = False
    minors_involved: StrictBool = False
    public_figure: StrictBool = False
    # Estimated number of people who have seen the content.
    reach: StrictInt | None = Field(default=None, ge=0, le=10**12)
    # When a legal obligation (a court order, a statutory notice) must be met.
    legal_deadline: Timestamp | None = None


class EvidenceKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"
    DOCUMENT = "document"
    LINK = "link"
    OTHER = "other"


class Evidence(WireModel):
    url: Url
    kind: EvidenceKind = EvidenceKind.LINK
    # Graphic media, minors, personal data: never copied into alerts, only linked behind auth.
    sensitive: StrictBool = False


class Escalation(WireModel):
    """What a partner reports: the body of `POST /v1/escalations` and of the received event."""

    category: Category
    title: Name
    description: Annotated[str, Field(max_length=20_000), STORABLE] = ""
    product: Product
    reporter: Reporter
    region: Region | None = None
    language: Language | None = None
    subject: Subject | None = None
    signals: Signals | None = None
    evidence: list[Evidence] = Field(default_factory=list, max_length=MAX_EVIDENCE)
    dedup_key: DedupKey | None = None
    occurred_at: Timestamp | None = None
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=MAX_LABELS)

    def correlation_key(self, escalation_id: UUID) -> str:
        """Reports sharing this key land on one partition and may join one case."""
        if self.dedup_key:
            return f"dedup:{self.dedup_key}"
        if self.subject:
            for name in ("content_id", "account_id", "url"):
                value = getattr(self.subject, name)
                if value:
                    return f"{name}:{value}"
        return f"escalation:{escalation_id}"


class EscalationReceived(WireModel):
    escalation_id: UUID
    received_at: datetime
    correlation_key: str
    escalation: Escalation


class EscalationResolved(WireModel):
    """On the escalations topic with the reports' correlation key, so it follows them in order."""

    escalation_ids: list[UUID] = Field(min_length=1)
    correlation_key: str
    partner: str
    resolved_at: datetime


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class CaseStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class CaseSnapshot(WireModel):
    """A case as it stands after a change: enough to filter, route and render an alert."""

    case_id: UUID
    status: CaseStatus
    title: str
    category: Category
    product: Product
    correlation_key: str
    created_at: datetime
    updated_at: datetime
    # None only until the router scores and assigns the case.
    severity: Severity | None = None
    score: int | None = Field(default=None, ge=0, le=100)
    team: str | None = None
    watchers: list[str] = Field(default_factory=list)
    assignee: str | None = None
    report_count: int = Field(default=1, ge=1)
    # Evidence marked sensitive never travels in alerts, only a link to the console.
    sensitive: bool = False
    ack_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    policy_version: str | None = None
    # Added by the router's severity and correlation work (all optional):
    region: str | None = None
    surge: bool = False  # a surge on the correlation key raised the case one band
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    velocity_per_hour: float | None = Field(default=None, ge=0)  # reports per hour on the key
    previous_case_id: UUID | None = None  # the resolved case this one follows on the same key
    resolution_code: str | None = None


class CaseEvent(WireModel):
    """The body of every flare.case.* event: the case after the change, and who changed it."""

    case: CaseSnapshot
    # The report behind the change (created, updated), so intake can show where it is, and
    # when intake accepted it, so the notifier can measure report-to-alert latency.
    escalation_id: UUID | None = None
    received_at: datetime | None = None
    # "router" for automatic changes, else the responder's token subject.
    actor: str
    detail: str | None = Field(default=None, max_length=2000)
    # flare.case.sla_warning / sla_breached: which target ("acknowledge" or "resolve"), due when.
    sla_target: str | None = None
    due_at: datetime | None = None


class EmergingRisk(WireModel):
    """The body of flare.risk.emerging: a surge of reports across one region and category, or
    on one subject (one correlation key).

    Published on the cases topic. A region's is keyed `risk:<region>:<category>` and sent once
    per fixed window; a subject's names the case the surge raised, is keyed by its id (so it
    follows that case's events) and is sent once per case.
    """

    scope: Literal["region_category", "subject"] = "region_category"
    region: str | None = None  # always set for a region's; a subject's case may have none
    category: Category
    case_id: UUID | None = None  # set for a subject's, only
    sensitive: bool = False  # a subject's case is (its alerts carry a content warning)
    report_count: int = Field(ge=1)
    window_start: datetime
    window_minutes: int = Field(ge=1)
    detected_at: datetime

    @model_validator(mode="after")
    def _names_its_scope(self) -> "EmergingRisk":
        if self.scope == "subject" and self.case_id is None:
            raise ValueError("a subject's emerging risk names its case_id")
        if self.scope == "region_category" and (self.region is None or self.case_id):
            raise ValueError("a region's emerging risk names a region and no case_id")
        return self
