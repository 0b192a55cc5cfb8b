"""Hand-made families for welfare tests: a small seeded table with the contract's columns.

Not the project's synthetic generator: a tiny stand-in whose causal story is plain (level
drives income, property and home condition; hidden-income families under-report income but
their homes still look like their true level), so tests can check what the models learn.
Models trained on them, and configs/ copied with welfare.yaml edited (`edit_welfare`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from welfare.criteria import WelfareConfig, get_welfare_config

ROOT = Path(__file__).resolve().parents[2]
Edit = Callable[[dict[str, Any]], object]  # a change to a config's YAML, made in place
INCOME_MULTIPLES = [0.3, 0.55, 0.85, 1.4, 2.4, 5.5]


@dataclass(frozen=True)
class Planned:
    family_id: str
    room: str
    condition: int | None
    signs: frozenset[str]
    style: int
    usable: bool
    unusable_reason: str | None


def base_criteria(config: WelfareConfig) -> dict[str, float | str | None]:
    """A valid, modest family of three with one worker, income under the poverty line."""
    values: dict[str, float | str | None] = {}
    for c in config.criteria:
        values[c.name] = c.categories[0] if c.kind == "category" else 0.0
    values.update(
        per_capita_income_kzt=20_000.0,
        members_total=3.0,
        members_working=1.0,
        dwelling_area_per_person_m2=12.0,
        members_insured_share=1.0,
        head_education_level=1.0,
    )
    return values


def family(config: WelfareConfig, family_id: str = "f1", **criteria) -> dict:
    values = base_criteria(config)
    values.update(criteria)
    return {
        "family_id": family_id,
        "region": config.regions[0],
        "settlement": "urban",
        "head_gender": "female",
        "criteria": values,
    }


def make_families(
    n: int, *, seed: int, config: WelfareConfig
) -> tuple[pd.DataFrame, list[Planned]]:
    rng = np.random.default_rng(seed)
    t = config.thresholds
    rows, photos = [], []
    for i in range(n):
        fid = f"fam{seed}-{i:05d}"
        level = int(rng.integers(1, 7))
        hidden = rng.random() < 0.15
        true_income = (
            t.subsistence_minimum_kzt * INCOME_MULTIPLES[level - 1] * rng.lognormal(0, 0.2)
        )
        declared = true_income * rng.uniform(0.15, 0.4) if hidden else true_income
        total = int(rng.integers(1, 8))
        planned = _photos(fid, level, rng)
        values = base_criteria(config)
        values.update(
            per_capita_income_kzt=round(declared),
            members_total=float(total),
            members_working=float(rng.integers(0, total + 1)),
            dwelling_area_per_person_m2=float(round(6 + 4 * level + rng.normal(0, 3), 1)),
            vehicles_owned=float(rng.poisson(0.3 * level) if level < 6 else rng.integers(0, 3)),
            dwellings_owned=float(rng.integers(0, 2)),
            bank_deposits_kzt=float(round(rng.lognormal(8 + level, 1))),
            members_with_disability=float(rng.random() < 0.15),
            foreign_trips_12m=float(rng.poisson(0.4 * level if hidden or level > 4 else 0.1)),
            housing_tenure=str(rng.choice(["owned", "rented", "social", "relatives"])),
        )
        for name in ("bank_deposits_kzt", "head_education_level", "foreign_trips_12m"):
            if rng.random() < 0.03:
                values[name] = np.nan
        rows.append(
            {
                "family_id": fid,
                "region": str(rng.choice(config.regions)),
                "settlement": str(rng.choice(["urban", "rural"])),
                "head_gender": str(rng.choice(["female", "male"])),
                "latent_level": level,
                "asp_eligible": bool(true_income < t.poverty_line_kzt),
                "case": "hidden_income" if hidden else "typical",
                "n_photos": len(planned),
                **values,
            }
        )
        photos += planned
    return pd.DataFrame(rows), photos


def _photos(fid: str, level: int, rng: np.random.Generator) -> list[Planned]:
    out = []
    rooms = ["kitchen", "bathroom", "bedroom", "living_room", "exterior"]
    for room in rng.choice(rooms, size=int(rng.integers(3, 6)), replace=False):
        condition = int(np.clip(round(0.75 * level + 0.4 + rng.normal(0, 0.4)), 1, 5))
        signs = set()
        if level <= 2 and rng.random() < 0.6:
            signs.add("damp_mould")
        if level >= 5 and rng.random() < 0.6:
            signs.add("premium_finishes")
        usable = rng.random() > 0.05
        out.append(
            Planned(
                fid, str(room), condition, frozenset(signs), 0, usable, None if usable else "blur"
            )
        )
    return out


@pytest.fixture(scope="session")
def welfare_config() -> WelfareConfig:
    """The real config with a small recipe so models train in about a second."""
    config = get_welfare_config()
    fusion = config.fusion.model_copy(
        update={
            "lightgbm": config.fusion.lightgbm.model_copy(update={"n_estimators": 60}),
            "random_forest": config.fusion.random_forest.model_copy(update={"n_estimators": 60}),
        }
    )
    return config.model_copy(update={"fusion": fusion})


@pytest.fixture(scope="session")
def family_data(welfare_config):
    from welfare.dataset import build_family_data
    from welfare.simulate import simulate_photos

    table, planned = make_families(900, seed=3, config=welfare_config)
    photos = simulate_photos(planned, seed=4)
    return build_family_data(table, photos, config=welfare_config)


@pytest.fixture(scope="session")
def trained(family_data, welfare_config):
    """Every registered model trained on the first 700 hand-made families."""
    from welfare.fusion import list_models
    from welfare.train import fit_on

    train = family_data.subset(range(700))
    return {
        name: fit_on(train, name, config=welfare_config, seed=0, source={"n": 700, "seed": 3})
        for name in list_models()
    }


@pytest.fixture
def hand_made_synthetic(monkeypatch, welfare_config):
    """`welfare.train` regenerates hand-made families instead of the project's generator."""
    from welfare.dataset import build_family_data
    from welfare.simulate import simulate_photos

    def synthetic(n, *, seed, config=None, progress=False):
        config = config or welfare_config
        table, planned = make_families(n, seed=seed, config=config)
        return build_family_data(table, simulate_photos(planned, seed=seed + 1), config=config)

    monkeypatch.setattr("welfare.train.synthetic_family_data", synthetic)


@pytest.fixture
def edit_welfare(trained, tmp_path, monkeypatch) -> Iterator[Callable[[Edit], WelfareConfig]]:
    """Factory: edit(change) applies `change` to welfare.yaml in a copy of configs/, which
    FusionModel.load (and the service) then reads, and returns the config read anew. The
    models are trained first, under the shipped configs."""
    folder = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", folder)

    def edit(change: Edit) -> WelfareConfig:
        path = folder / "welfare.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        monkeypatch.setenv("SHANYRAQ_CONFIGS_DIR", str(folder))
        get_welfare_config.cache_clear()
        return get_welfare_config()

    yield edit
    get_welfare_config.cache_clear()  # monkeypatch restores the variable after this


class TreeReadOnce:
    """Stands for the `subprocess` module in shanyraq.provenance: each git command it runs in
    a folder runs once, and its answer (or failure) is given again to every later read."""

    SubprocessError = subprocess.SubprocessError  # what provenance.code_version catches

    def __init__(self) -> None:
        self.answers: dict[tuple[tuple[str, ...], Path | None], Any] = {}

    def run(self, args: Sequence[str], *, cwd: Path | None = None, **kwargs: Any) -> Any:
        key = (tuple(args), None if cwd is None else Path(cwd).resolve())
        if key not in self.answers:
            try:
                self.answers[key] = subprocess.run(args, cwd=cwd, **kwargs)
            except (OSError, subprocess.SubprocessError) as error:
                self.answers[key] = error
        answer = self.answers[key]
        if isinstance(answer, BaseException):
            raise answer
        return answer


@pytest.fixture(autouse=True)
def _code_version_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """shanyraq.provenance.code_version reads the tree once per folder in a test, and that
    version holds for the rest of it. A model records the version when it is trained and an
    evaluation when it runs, and tests compare them with their own read; read anew, they
    differed whenever someone edited a file of the shared checkout in between (a clean clone
    never changes under a test). Still the real version, read at the test's first call, as in
    tests/serving/conftest.py. Kept where the git commands are run rather than by replacing
    `code_version`: welfare modules bind the function when imported (FusionMeta's default
    `code_version` among them), so a replaced module attribute would not reach them.
    Per test: models built for a session or module (`trained`) are read then, not now."""
    from shanyraq import provenance

    monkeypatch.setattr(provenance, "subprocess", TreeReadOnce())
