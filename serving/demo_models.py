"""The demo's fusion model kept in step with the configs: trained when missing, trained again
when it was trained under other configs than configs/welfare.yaml (and the synth config and
taxonomy its families are generated with) say now, or the code generating its families changed.

What the model was trained under is read from its fusion.json: its welfare levels, taxonomy
(of a model reading photo features), fitting recipe, features and families' (n, seed) are
compared with the configs' at once; its training-data hash with that of the families the
configs generate now, which takes a while (about half a minute for the recipe's 20,000), so
only when the configs, or the source of the modules generating the families and their
simulated scores (FAMILY_CODE), differ from those the model was last found current under
(DEMO_FUSION_CHECKED, in the demo's data folder). A change that leaves the families' features
and labels as they were (a region renamed or removed) trains the same model: it is not trained
again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shanyraq.errors import ModelMismatchError, ShanyraqError
from shanyraq.shell_words import word
from shanyraq.source_digests import code_digests

if TYPE_CHECKING:
    from serving.demo_build import DemoPaths
    from welfare.criteria import WelfareConfig
    from welfare.model_folder import FusionMeta

logger = logging.getLogger(__name__)

# The fusion model's version and the configs it was last found current under.
DEMO_FUSION_CHECKED = "demo-fusion-checked.json"


class DemoFusionMixError(ShanyraqError):
    """The demo's fusion model cannot be trained again beside models trained on old data."""

    code = "training_data_mixed"
    http_status = 409


# The modules the demo fusion model's training families and their simulated photo scores come
# from (welfare.dataset.simulated_families): a change to their code can change the families
# as a config change can, so their source is part of configs_digest.
FAMILY_CODE = (
    "training.synth.families",  # generate_families: each family's case, level and photos
    "training.synth.record",  # sample_criteria: each family's criteria
    "training.synth.spec",  # sample_spec: each planned photo's labels
    "welfare.simulate",  # simulate_photos: the photos' scores
    "welfare.dataset",  # simulated_families: the seeds and noise the scores are drawn with
)


def configs_digest(config: WelfareConfig) -> str:
    """sha256 of what the synthetic families a fusion model is trained on follow from: the
    welfare config (its measured digest: the targets and `fairness.intervals` shape no
    training), the synth config and the taxonomy (as the generator records them), the
    engine's abstain settings (simulated scores abstain by them) and the code of FAMILY_CODE."""
    from shanyraq.taxonomy import get_taxonomy
    from training.synth.config import get_synth_config
    from training.synth.output import generation
    from vision.engine import get_engine_config

    record = generation("families", config=get_synth_config(), taxonomy=get_taxonomy())
    said = {
        "welfare": config.measured_digest(),
        **record,
        "abstain": get_engine_config().abstain.model_dump(mode="json"),
        "code": code_digests(FAMILY_CODE),
    }
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()


def ensure_fusion_model(paths: DemoPaths) -> None:
    """Train the demo's fusion model when it is missing or was trained under other configs
    (saying why); a fusion.json that cannot be read is left to the service, which refuses it
    at start-up saying what is wrong."""
    from welfare.criteria import get_welfare_config
    from welfare.model_folder import META_FILE, read_meta

    config = get_welfare_config()
    if not (paths.fusion_dir / META_FILE).exists():
        logger.info("training the fusion model %s on synthetic families", paths.fusion_model)
        _train(paths, config, overwrite=False)
        return
    try:
        meta = read_meta(paths.fusion_dir)
    except ModelMismatchError:
        return
    checked = {"version": meta.version, "configs_sha256": configs_digest(config)}
    if _read_checked(paths) == checked:
        return
    why = stale_because(paths.fusion_dir, meta, config)
    if why is None:
        _write_checked(paths, checked)
        return
    logger.warning(
        "the fusion model %s (%s) in %s was trained under other configs than now: %s; training "
        "it again under the current configs",
        paths.fusion_model, meta.version, paths.fusion_dir, why,
    )  # fmt: skip
    _train(paths, config, overwrite=True)


def stale_because(folder: Path, meta: FusionMeta, config: WelfareConfig) -> str | None:
    """Why the model in `folder` (its fusion.json `meta`) is not the one `config` (and the
    taxonomy) trains now, or None when it is (or cannot be loaded: the service says why)."""
    from welfare.fusion import FusionModel
    from welfare.fusion_version import feature_basis_change, fitting_recipe, label_basis_change

    if list(meta.levels) != list(config.level_values):
        return f"its welfare levels are {meta.levels}, configs/welfare.yaml's {config.level_values}"
    if why := _other_taxonomy(meta):
        return why
    if meta.recipe is not None:
        ours = fitting_recipe(config.fusion.model_dump(mode="json"))
        theirs = fitting_recipe(meta.recipe)
        changed = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        if changed:
            return f"the fusion recipe's {', '.join(changed)} changed"
    expected = _expected_features(meta.name, config)
    if meta.features != expected:
        gone = [f for f in meta.features if f not in expected]
        new = [f for f in expected if f not in meta.features]
        said = [f"{len(new)} added ({', '.join(new[:3])})"] if new else []
        said += [f"{len(gone)} gone ({', '.join(gone[:3])})"] if gone else []
        return f"its features differ from the configs' ({'; '.join(said) or 'another order'})"
    # Loading it would be refused alike: trained on features computed otherwise, or on ASP
    # labels drawn under another poverty line.
    if why := feature_basis_change(meta, config) or label_basis_change(meta, config):
        return why
    data = meta.metrics.get("data")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), int) for k in ("n", "seed")):
        return "it does not record the synthetic families it was trained on"
    n, seed = data["n"], data["seed"]
    if (n, seed) != (config.fusion.n_families, config.fusion.seed):
        return (
            f"it was trained on {n} synthetic families of seed {seed}, the recipe asks for "
            f"{config.fusion.n_families} of seed {config.fusion.seed}"
        )
    try:
        model = FusionModel.load(folder, levels=config.level_values)
    except ModelMismatchError:
        return None
    return _other_training_data(model, config, n=n, seed=seed)


def _other_taxonomy(meta: FusionMeta) -> str | None:
    """Why a model reading photo features does not fit configs/taxonomy.yaml (None: it does, or
    it reads none or was saved before the taxonomy was recorded): loading it would be refused
    (welfare.head_checks.check_taxonomy), and with every feature name kept nothing else says
    so."""
    from shanyraq.taxonomy import get_taxonomy

    taxonomy = get_taxonomy()
    if meta.taxonomy_sha256 is None or meta.taxonomy_sha256 == taxonomy.fingerprint():
        return None
    return (
        f"its photo features were read under another taxonomy ({str(meta.taxonomy_sha256)[:12]}) "
        f"than configs/taxonomy.yaml's, version {taxonomy.version} "
        f"({taxonomy.fingerprint()[:12]})"
    )


def _expected_features(name: str, config: WelfareConfig) -> list[str]:
    """The features `welfare.fusion.train_fusion` fits model `name` on under `config`."""
    from shanyraq.taxonomy import get_taxonomy
    from welfare.features import feature_space
    from welfare.fusion import create_spec

    space = feature_space(config, get_taxonomy())
    visual = create_spec(name).visual
    return [f for f in space.names(with_visual=True) if visual or not space.is_visual(f)]


def _other_training_data(model: Any, config: WelfareConfig, *, n: int, seed: int) -> str | None:
    from welfare.train import not_trained_on, synthetic_split

    logger.info(
        "checking the fusion model %s against the configs: generating its %d training "
        "families again (about half a minute for 20,000)",
        model.meta.version, n,
    )  # fmt: skip
    split = synthetic_split(n, seed=seed, config=config, progress=False)
    if not not_trained_on({model.meta.name: model}, split.train, config):
        return None
    return (
        "the families it was trained on differ from those the configs and code generate now "
        "(regions, criteria, thresholds, rules or the family generator changed)"
    )


def _train(paths: DemoPaths, config: WelfareConfig, *, overwrite: bool) -> None:
    from welfare.model_folder import TrainingDataMismatchError, model_folders
    from welfare.train import train_models

    try:
        models = train_models(
            paths.fusion_root,
            n=config.fusion.n_families,
            seed=config.fusion.seed,
            names=[paths.fusion_model],
            config=config,
            overwrite=overwrite,
        )
    except TrainingDataMismatchError as refused:
        # The refusal's own reason (other families, features computed otherwise, ASP labels
        # drawn under another poverty line), without its advice: `shanyraq demo` has no --model.
        others = [p.name for p in model_folders(paths.fusion_root) if p.name != paths.fusion_model]
        why = refused.reason or "trained on other families than the configs generate now"
        raise DemoFusionMixError(
            f"{paths.fusion_root} also holds {', '.join(others)}, {why}, so "
            f"{paths.fusion_model} is not trained again beside them (`welfare evaluate` refuses "
            "such a mix): train them all under the current configs (`shanyraq welfare train "
            f"--overwrite --out {word(paths.fusion_root)}`) or move them out of it, then start "
            "the demo again"
        ) from None
    version = models[paths.fusion_model].meta.version
    _write_checked(paths, {"version": version, "configs_sha256": configs_digest(config)})


def _read_checked(paths: DemoPaths) -> object:
    try:
        return json.loads((paths.data_dir / DEMO_FUSION_CHECKED).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, unreadable: the model is checked again
        return None


def _write_checked(paths: DemoPaths, checked: dict[str, str]) -> None:
    from serving.data_dir import make_private_dir
    from shanyraq.atomic import atomic_file

    make_private_dir(paths.data_dir)
    with atomic_file(paths.data_dir / DEMO_FUSION_CHECKED) as temporary:
        temporary.write_text(json.dumps(checked, indent=2) + "\n", encoding="utf-8")
