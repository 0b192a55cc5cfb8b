"""Fixtures the welfare tests share: the config, models trained on hand-made families
(tests/welfare/families_helpers.py), configs/ copied with welfare.yaml edited
(`edit_welfare`), the configuration the welfare CLI reads, and the engine study's models on the
small recipe's data (tests/welfare/engine_study_helpers.py)."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.welfare.engine_study_helpers import PAIR, SEED, SIZE, N
from tests.welfare.families_helpers import make_families
from welfare.criteria import WelfareConfig, get_welfare_config

ROOT = Path(__file__).resolve().parents[2]
Edit = Callable[[dict[str, Any]], object]  # a change to a config's YAML, made in place


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


@pytest.fixture
def cli_config(monkeypatch):
    """Factory: set the welfare configuration `welfare train` (welfare/cli.py) reads."""

    def use(chosen):
        monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: chosen)
        return chosen

    return use


@pytest.fixture
def cannot_split(welfare_config):
    """The recipe with LightGBM leaves larger than any training set: no head can split."""
    fusion = welfare_config.fusion
    lightgbm = fusion.lightgbm.model_copy(update={"min_child_samples": 100_000})
    return welfare_config.model_copy(
        update={"fusion": fusion.model_copy(update={"lightgbm": lightgbm})}
    )


@pytest.fixture(scope="module")
def evaluated(trained, family_data, welfare_config) -> dict[str, Any]:
    """lgbm_tabular and lgbm_fused evaluated on the last 200 hand-made families."""
    from welfare.evaluation import evaluate_models

    models = {name: trained[name] for name in ("lgbm_tabular", "lgbm_fused")}
    result = evaluate_models(
        models, family_data.subset(range(700, 900)), config=welfare_config, n_boot=5, seed=0
    )
    result.pop("_frames")
    return result


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from tmp_path: a command's default --cache and --out land there (the engine command
    tests use it: `pytestmark = pytest.mark.usefixtures("in_tmp")`)."""
    monkeypatch.chdir(tmp_path)


# --- the engine study on the small recipe's data (engine_study_helpers: N, SEED, SIZE) -------


@pytest.fixture(scope="module")
def config(welfare_config):
    """The small recipe, its data (n, seed) shrunk so the training split is 36 families."""
    return welfare_config.model_copy(
        update={"fusion": welfare_config.fusion.model_copy(update={"n_families": N, "seed": SEED})}
    )


@pytest.fixture(scope="module")
def vision_dir(tmp_path_factory):
    """A tiny exported vision model (tests/vision/engine_fixtures.py)."""
    from shanyraq.taxonomy import get_taxonomy

    engine_fixtures = pytest.importorskip("tests.vision.engine_fixtures")
    return engine_fixtures.make_artifact(tmp_path_factory.mktemp("vision"), get_taxonomy())


@pytest.fixture(scope="module")
def engine_model(tmp_path_factory, vision_dir, config) -> Path:
    """lgbm_fused_engine as `welfare train-engine` saves it on the small recipe's data (48, 5):
    6 of its training families (subset seed 3), photos rendered at SIZE px, kept with
    --keep-meaningless."""
    from welfare.real_training import ENGINE_MODEL, train_on_engine_scores

    folder = tmp_path_factory.mktemp("engine28") / ENGINE_MODEL
    train_on_engine_scores(
        folder, vision_dir=vision_dir, n_families=6, subset_seed=3, size=SIZE,
        cache_dir=None, config=config, keep_meaningless=True,
    )  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def engine_folder_and_model(tmp_path_factory, vision_dir, config):
    """lgbm_fused_engine on 6 training families of (N, SEED), its scores cached beside it: its
    folder and the model built."""
    from welfare.real_training import ENGINE_MODEL, train_on_engine_scores

    folder = tmp_path_factory.mktemp("engine22")
    model, _ = train_on_engine_scores(
        folder / ENGINE_MODEL, vision_dir=vision_dir, n_families=6, subset_seed=3, size=SIZE,
        cache_dir=folder / "cache", config=config, keep_meaningless=True,
    )  # fmt: skip
    return folder / ENGINE_MODEL, model


@pytest.fixture(scope="module")
def pair(tmp_path_factory, config) -> Path:
    """lgbm_fused and lgbm_tabular (PAIR) as `welfare train` saves them, on the engine model's
    data: too few families for a recipe, so kept with --keep-meaningless."""
    from welfare.train import train_models

    out = tmp_path_factory.mktemp("pair") / "wf"
    n, seed = config.fusion.n_families, config.fusion.seed
    train_models(out, n=n, seed=seed, names=PAIR, config=config, keep_meaningless=True)
    return out


@pytest.fixture(scope="module")
def trained_on_data(tmp_path_factory, config):
    """lgbm_tabular and lgbm_fused as `welfare train --n 48 --seed 5` saves them (too few
    families to mean anything: the pipeline's smoke run)."""
    from welfare.train import train_models

    folder = tmp_path_factory.mktemp("fusion")
    train_models(
        folder, n=N, seed=SEED, names=["lgbm_tabular", "lgbm_fused"], config=config,
        keep_meaningless=True,
    )  # fmt: skip
    return folder


@pytest.fixture(autouse=True)
def _code_version_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """shanyraq.provenance.code_version reads the tree once per folder in a test, and that
    version holds for the rest of it. A model records the version when it is trained and an
    evaluation when it runs, and tests compare them with their own read; read anew, they
    differed whenever someone edited a file of the shared checkout in between (a clean clone
    never changes under a test). Still the real version, read at the test's first call, as in
    tests/serving/conftest.py; welfare reads it through the module (welfare.train,
    welfare.real_evaluation, FusionMeta), so the replaced function reaches every read, and
    the real one stays reachable as `inspect.unwrap(provenance.code_version)`. Per test: models
    built for a session or module (`trained`) are read then, not now."""
    from shanyraq import provenance

    # Kept by its arguments: code_version() and code_version(folder), each read once a test.
    monkeypatch.setattr(provenance, "code_version", functools.cache(provenance.code_version))
