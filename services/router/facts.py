"""What the router reads from a received escalation: the facts that scoring and routing use.

Parsed leniently from the escalation's JSON (unknown fields ignored), so the router scores the
optional fields of the contract (region, signals, evidence) whether or not a producer sends them.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.events import Category, Product, ReporterType


class FactsModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Signals(FactsModel):
    imminent_harm: bool = False
    minors_involved: bool = False
    public_figure: bool = False
    reach: int | None = Field(default=None, ge=0)
    legal_deadline: datetime | None = None

    def any(self) -> bool:
        flags = self.imminent_harm or self.minors_involved or self.public_figure
        return flags or bool(self.reach) or self.legal_deadline is not None


class ReporterFacts(FactsModel):
    type: ReporterType


class EvidenceFacts(FactsModel):
    url: str
    kind: str = "link"
    sensitive: bool = False


class EscalationFacts(FactsModel):
    category: Category
    product: Product
    title: str
    description: str = ""
    reporter: ReporterFacts
    region: str | None = None
    language: str | None = None
    signals: Signals = Signals()
    evidence: list[EvidenceFacts] = []

    @field_validator("signals", "evidence", mode="before")
    @classmethod
    def absent_when_null(cls, value: object, info: ValidationInfo) -> object:
        if value is not None:
            return value
        return [] if info.field_name == "evidence" else {}

    @property
    def sensitive(self) -> bool:
        """Evidence marked sensitive, or minors involved: alerts then carry only a console link."""
        return self.signals.minors_involved or any(item.sensitive for item in self.evidence)

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.description}"
