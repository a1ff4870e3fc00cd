"""The severity and routing policy as data: its pydantic model, and YAML parsing with lines."""

import hashlib
import re
from datetime import date
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.events import Category, Product, ReporterType, Severity

# Teams are named as in the design brief and on the wire ("Global Operations").
TeamName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]
RuleName = Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
SignalName = Literal["imminent_harm", "minors_involved", "public_figure"]
WindowKind = Literal["election", "crisis"]
# Strongest first: a band "at least SEV2" is SEV2 or SEV1.
BANDS = (Severity.SEV1, Severity.SEV2, Severity.SEV3, Severity.SEV4)


class PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(PolicyModel):
    """Conditions that must all hold; a rule with none always fires."""

    category: list[Category] | None = None
    product: list[Product] | None = None
    reporter: list[ReporterType] | None = None
    region: list[str] | None = None
    signals: list[SignalName] | None = None
    no_signals: bool | None = None
    reach_at_least: int | None = Field(default=None, ge=0)
    legal_deadline_within_hours: float | None = Field(default=None, gt=0)
    window: WindowKind | None = None
    keywords: list[str] | None = None
    velocity_at_least: float | None = Field(default=None, gt=0)


class WeightRule(PolicyModel):
    name: RuleName
    when: When = When()
    weight: int = Field(ge=-100, le=100)


class BandRule(PolicyModel):
    """A floor (at least `band`) or a cap (at most `band`)."""

    name: RuleName
    when: When
    band: Severity


class Route(PolicyModel):
    team: TeamName
    watchers: list[TeamName] = []


class RouteOverride(Route):
    name: RuleName
    when: When


class WatcherRule(PolicyModel):
    name: RuleName
    when: When
    add: list[TeamName] = Field(min_length=1)


class SlaTarget(PolicyModel):
    acknowledge_minutes: int = Field(gt=0)
    resolve_minutes: int = Field(gt=0)


class Sla(PolicyModel):
    targets: dict[Severity, SlaTarget]
    # The warning goes out when this share of the time to a target has passed.
    warning_at_fraction: float = Field(default=0.75, gt=0, lt=1)
    # With a legal deadline, resolution is due this long before it (or half the time left, when
    # less than twice this is left; services/router/sla.py).
    legal_deadline_margin_minutes: int = Field(default=60, ge=1)


class Window(PolicyModel):
    name: str = Field(min_length=1)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    kind: WindowKind
    starts: date
    ends: date  # inclusive

    @model_validator(mode="after")
    def ends_after_start(self) -> "Window":
        if self.ends < self.starts:
            raise ValueError("ends is before starts")
        return self


class Surge(PolicyModel):
    key_reports: int = Field(default=20, ge=2)
    key_window_minutes: int = Field(default=10, ge=1)
    region_category_reports: int = Field(default=50, ge=2)
    region_category_window_minutes: int = Field(default=60, ge=1)


class Policy(PolicyModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    # Lowest score of each band but the last; SEV4 is everything below SEV3's.
    bands: dict[Severity, int]
    rules: list[WeightRule]
    floors: list[BandRule] = []
    caps: list[BandRule] = []
    keywords: dict[RuleName, dict[str, list[str]]] = {}
    windows: list[Window] = []
    routes: dict[Category, Route]
    route_overrides: list[RouteOverride] = []
    watcher_rules: list[WatcherRule] = []
    sla: Sla
    surge: Surge = Surge()
    correlation_window_hours: float = Field(default=24, gt=0)
    velocity_window_minutes: int = Field(default=60, ge=1)
    # Set from the file's content on load, never written by hand.
    version: str = ""

    @model_validator(mode="after")
    def consistent(self) -> "Policy":
        if set(self.bands) != set(BANDS[:3]):
            raise ValueError("bands needs exactly SEV1, SEV2 and SEV3 (SEV4 is the rest)")
        sev1, sev2, sev3 = (self.bands[band] for band in BANDS[:3])
        if not 100 >= sev1 > sev2 > sev3 > 0:
            raise ValueError("bands need SEV1 > SEV2 > SEV3, each between 1 and 100")
        missing = [category.value for category in Category if category not in self.routes]
        if missing:
            raise ValueError(f"routes miss the categories: {', '.join(missing)}")
        if set(self.sla.targets) != set(BANDS):
            raise ValueError("sla.targets needs exactly SEV1, SEV2, SEV3 and SEV4")
        named: list[WeightRule | BandRule | WatcherRule | RouteOverride] = [
            *self.rules,
            *self.floors,
            *self.caps,
            *self.watcher_rules,
            *self.route_overrides,
        ]
        names = [rule.name for rule in named]
        if len(names) != len(set(names)):
            raise ValueError("rule, floor, cap and routing rule names must be unique")
        for rule in named:
            unknown = set(rule.when.keywords or ()) - set(self.keywords)
            if unknown:
                raise ValueError(f"{rule.name} names unknown keyword lists: {sorted(unknown)}")
        return self

    def lowest_score(self, band: Severity) -> int:
        return 0 if band is Severity.SEV4 else self.bands[band]

    def highest_score(self, band: Severity) -> int:
        index = BANDS.index(band)
        return 100 if index == 0 else self.lowest_score(BANDS[index - 1]) - 1

    def band_of(self, score: int) -> Severity:
        return next(band for band in BANDS if score >= self.lowest_score(band))


class PolicyInvalid(Exception):
    """A policy file that cannot be used; the message names the line and field."""


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate a policy document; its version is its name plus a hash of its content."""
    try:
        root = yaml.compose(text)
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyInvalid(f"{source}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise PolicyInvalid(f"{source}: a policy is a YAML mapping")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    try:
        policy = Policy.model_validate(document)
    except ValidationError as error:
        problems = [_describe(root, item, source) for item in error.errors()]
        raise PolicyInvalid("\n".join(problems)) from error
    return policy.model_copy(update={"version": f"{policy.name}@{digest}"})


def _describe(root: yaml.Node | None, item: Any, source: str) -> str:
    location = tuple(part for part in item["loc"] if not _is_pydantic_tag(part))
    field = ".".join(str(part) for part in location) or "(document)"
    line = _line_of(root, location)
    return f"{source}:{line}: {field}: {item['msg']}"


def _is_pydantic_tag(part: object) -> bool:
    # Union and Literal branches add tags such as "literal['SEV1']" to error locations.
    return isinstance(part, str) and bool(re.fullmatch(r"[a-z-]+\[.*\]", part))


def _line_of(node: yaml.Node | None, location: tuple[object, ...]) -> int:
    """The line of the deepest YAML node on the error's path (1-based)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in location:
        child = _child(node, part)
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _child(node: yaml.Node | None, part: object) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((value for key, value in node.value if key.value == str(part)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None
