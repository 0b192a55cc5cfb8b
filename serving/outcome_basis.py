"""What an assessment's outcome rests on besides its inputs and models: digests of the parts
of configs/welfare.yaml and configs/taxonomy.yaml that decide what it says, and the version of
the assessment logic (serving.assessments records them in `model_versions` and calls an
assessment stale when one differs from the configs loaded now)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shanyraq.taxonomy import get_taxonomy
from welfare.assess import LOGIC_VERSION, coverage_rooms_configured
from welfare.criteria import get_welfare_config
from welfare.fusion import FusionModel

# The parts of configs/welfare.yaml that decide what an assessment says (a pydantic `include`:
# of criteria what reasons and the missing list read, not ranges, units or sources). Adding one
# makes every older assessment stale once, as adding criteria and expected_rooms did.
OUTCOME_CONFIG_PARTS: dict[str, bool | dict[str, set[str]]] = {
    "levels": True, "thresholds": True, "rules": True, "recommendation": True,
    "criteria": {"__all__": {"name", "kind", "categories", "description"}}}  # fmt: skip
WELFARE_CONFIG_KEY = "welfare_config"  # their digest, in each assessment's `model_versions`
LOGIC_KEY = "assessment_logic"  # welfare.assess.LOGIC_VERSION, recorded beside the digest
# configs/taxonomy.yaml's parts that decide what an assessment says (welfare.aggregate,
# welfare.features): the rooms in order (coverage, ties), not_dwelling, the grades, the signs and
# their points_to (need and welfare evidence); not descriptions or the version number.
TAXONOMY_OUTCOME_PARTS: dict[str, Any] = {
    "room": {"classes": {"__all__": {"name"}}, "not_dwelling": True},
    "condition": {"grades": {"__all__": {"value"}}},
    "signs": {"classes": {"__all__": {"name", "points_to"}}}}  # fmt: skip
TAXONOMY_KEY = "taxonomy_config"  # their digest, in each assessment's `model_versions`


def welfare_config_digest(*, rooms: bool = False) -> str:
    """Digest of configs/welfare.yaml's OUTCOME_CONFIG_PARTS, with `rooms` its expected_rooms as a
    set (16 hex of the sha256 of canonical JSON: comments, layout, other parts do not count)."""
    config = get_welfare_config()
    also = {"expected_rooms": sorted(config.fusion.expected_rooms)} if rooms else None
    return config.digest(OUTCOME_CONFIG_PARTS, also=also)[:16]


def taxonomy_config_digest() -> str:
    """Digest of configs/taxonomy.yaml's TAXONOMY_OUTCOME_PARTS as loaded (get_taxonomy), as
    `welfare_config_digest` (comments, layout, descriptions and the version do not count)."""
    said = get_taxonomy().model_dump(mode="json", include=TAXONOMY_OUTCOME_PARTS)
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()[:16]


def outcome_rests_on(model: FusionModel | None = None) -> dict[str, str]:
    """What a new assessment made with `model` records beside its models: the welfare config's
    digest, with the rooms where they are what its photo coverage is a share of (the model reads
    it and records no rooms of its own: welfare.assess.coverage_rooms), the taxonomy's digest
    and LOGIC_VERSION."""
    rooms = coverage_rooms_configured(model)
    return {
        WELFARE_CONFIG_KEY: welfare_config_digest(rooms=rooms),
        TAXONOMY_KEY: taxonomy_config_digest(),
        LOGIC_KEY: LOGIC_VERSION,
    }
