"""Policy files: validated with line and field on errors, versioned by content, hot-reloaded."""

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.router.policy import PolicyInvalid, parse_policy
from services.router.policy_store import PolicyStore
from tests.unit.router.policy_fixtures import DEFAULT_POLICY_PATH

DEFAULT_TEXT = DEFAULT_POLICY_PATH.read_text()


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


# (id, replace this, with that, expected message fragment, line holding this fragment)
BAD_EDITS = [
    ("weight-not-a-number", "weight: 45", "weight: lots", "rules.0.weight", "weight: 45"),
    (
        "team-blank",
        "legal_request: {team: Legal}",
        'legal_request: {team: " "}',
        "routes.legal_request.team",
        "legal_request: {team: Legal}",
    ),
    ("unknown-band", "band: SEV4", "band: SEV5", "caps.0.band", "band: SEV4"),
    (
        "unknown-field",
        "warning_at_fraction: 0.75",
        "warn_at: 0.75",
        "sla.warn_at",
        "warning_at_fraction",
    ),
    ("country-lowercase", "country: BR", "country: br", "windows.0.country", "country: BR"),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "anchor"),
    [row[1:] for row in BAD_EDITS],
    ids=[row[0] for row in BAD_EDITS],
)
def test_a_bad_policy_is_refused_naming_line_and_field(
    old: str, new: str, field: str, anchor: str
) -> None:
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy(DEFAULT_TEXT.replace(old, new, 1), "edited.yaml")
    assert f"edited.yaml:{line_of(DEFAULT_TEXT, anchor)}: {field}:" in str(refused.value)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  partner_inquiry: {team: Partnerships}\n",
            "",
            "routes miss the categories: partner_inquiry",
        ),
        (
            "bands: {SEV1: 80, SEV2: 60, SEV3: 35}",
            "bands: {SEV1: 60, SEV2: 80, SEV3: 35}",
            "SEV1 > SEV2 > SEV3",
        ),
        ("keywords: [violence]", "keywords: [violense]", "unknown keyword lists"),
        ("name: default", "name: default\nrules: [", "not valid YAML"),
    ],
    ids=["route-missing", "bands-out-of-order", "unknown-keyword-list", "broken-yaml"],
)
def test_inconsistent_policies_are_refused_with_the_reason(
    old: str, new: str, message: str
) -> None:
    with pytest.raises(PolicyInvalid, match=message):
        parse_policy(DEFAULT_TEXT.replace(old, new, 1))


def test_the_version_is_the_name_and_a_hash_of_the_content() -> None:
    first = parse_policy(DEFAULT_TEXT)
    edited = parse_policy(DEFAULT_TEXT.replace("weight: 45", "weight: 46", 1))
    assert first.version.startswith("default@")
    assert edited.version.startswith("default@")
    assert first.version != edited.version
    assert parse_policy(DEFAULT_TEXT).version == first.version


def test_a_changed_file_takes_over_and_a_bad_one_keeps_the_running_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT_TEXT)
    registry = CollectorRegistry()
    store = PolicyStore(path, registry)

    def rejected() -> float | None:
        return registry.get_sample_value("flare_router_policy_rejected")

    original = store.current.version
    assert store.reload_if_changed() is False

    path.write_text(DEFAULT_TEXT.replace("name: default", "name: tuned", 1))
    assert store.reload_if_changed() is True
    tuned = store.current.version
    assert tuned.startswith("tuned@")
    assert tuned != original

    path.write_text(DEFAULT_TEXT.replace("weight: 45", "weight: lots", 1))
    assert store.reload_if_changed() is False
    assert store.current.version == tuned
    assert rejected() == 1

    path.write_bytes(b"name: \xff\xfe")  # not UTF-8: refused alike
    assert store.reload_if_changed() is False
    assert "not UTF-8" in (store.rejected or "")
    assert store.current.version == tuned

    path.write_text(DEFAULT_TEXT)
    assert store.reload_if_changed() is True
    assert (store.rejected, rejected()) == (None, 0)

    path.unlink()  # gone (a ConfigMap deleted): a router starting now could not start
    assert store.reload_if_changed() is False
    assert "cannot read" in (store.rejected or "")
    assert (store.current.version, rejected()) == (original, 1)

    path.write_text(DEFAULT_TEXT)
    assert store.reload_if_changed() is True
    assert (store.rejected, rejected()) == (None, 0)


def test_a_router_does_not_start_on_a_missing_or_bad_policy(tmp_path: Path) -> None:
    with pytest.raises(PolicyInvalid, match="cannot read"):
        PolicyStore(tmp_path / "missing.yaml", CollectorRegistry())
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [")
    with pytest.raises(PolicyInvalid, match="not valid YAML"):
        PolicyStore(bad, CollectorRegistry())
    bad.write_bytes(b"name: \xff")
    with pytest.raises(PolicyInvalid, match="not UTF-8"):
        PolicyStore(bad, CollectorRegistry())
