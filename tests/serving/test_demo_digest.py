"""The digest that decides when the demo's fusion model is checked again covers the code its
training families and their simulated scores come from, and the abstain settings the scores
follow: a change to either could leave a stale model served without a check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import training.synth.families
import training.synth.record
import training.synth.spec
import welfare.dataset
import welfare.simulate
from serving import demo_build
from serving.demo_models import FAMILY_CODE, configs_digest
from tests.serving.demo_helpers import read_as_edited
from welfare.criteria import get_welfare_config

SOURCES = [
    Path(module.__file__ or "")
    for module in (
        training.synth.families,
        training.synth.record,
        training.synth.spec,
        welfare.simulate,
        welfare.dataset,
    )
]


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_a_change_to_the_family_code_changes_the_digest(monkeypatch, source):
    config = get_welfare_config()
    before = configs_digest(config)
    assert configs_digest(config) == before  # the same code and configs: the same digest
    read_as_edited(monkeypatch, source)
    assert configs_digest(config) != before


def test_the_family_modules_are_those_the_families_are_made_by():
    # welfare.dataset.simulated_families calls generate_families (families.py, which draws
    # criteria in record.py and photo labels in spec.py) and simulate_photos (simulate.py).
    assert set(FAMILY_CODE) == {
        "training.synth.families", "training.synth.record", "training.synth.spec",
        "welfare.simulate", "welfare.dataset",
    }  # fmt: skip


def test_the_abstain_settings_simulated_scores_follow_are_in_the_digest(monkeypatch):
    import vision.engine

    config = get_welfare_config()
    before = configs_digest(config)
    shipped = vision.engine.get_engine_config()
    abstain = shipped.abstain.model_copy(
        update={"min_room_probability": shipped.abstain.min_room_probability / 2}
    )
    changed = shipped.model_copy(update={"abstain": abstain})
    monkeypatch.setattr(vision.engine, "get_engine_config", lambda: changed)
    assert configs_digest(config) != before


def test_a_code_change_has_the_demo_fusion_model_checked_again(
    demo_paths: Any,
    work: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo_build.ensure_models(demo_paths)
    assert work == {"trained": 1, "generated": 1}
    demo_build.ensure_models(demo_paths)  # found current: not even generated again
    assert work == {"trained": 1, "generated": 1}
    read_as_edited(monkeypatch, Path(welfare.simulate.__file__ or ""))
    demo_build.ensure_models(demo_paths)  # checked again; the families are the same: not trained
    assert work == {"trained": 1, "generated": 2}
    demo_build.ensure_models(demo_paths)
    assert work == {"trained": 1, "generated": 2}
