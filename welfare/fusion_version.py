"""A fusion model's version: `<name>-<digest>` of what decides its predictions (training data,
the fitting part of the recipe, seed, decoding and both fitted heads' content), so two models
that can predict differently never share one. And the feature basis it was trained under
(`check_feature_basis`): what gives its features their values beside their names, checked on
load and before models are saved beside others (`check_basis_alike`). And the poverty line its
ASP labels were drawn under (`check_label_basis`): what its P(eligible) answers for, checked on
load (a folder's models all in one refusal, `check_label_bases`) and before models are saved
beside others (`check_basis_alike`). Split from welfare/fusion.py."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from shanyraq.errors import ModelMismatchError
from shanyraq.json_values import is_finite_number
from welfare.criteria import WelfareConfig
from welfare.features import feature_basis
from welfare.heads import CumulativeLightGBMHead, ForestHead, Head, LightGBMHead
from welfare.model_folder import (
    TRAIN_ENGINE,
    FusionMeta,
    TrainingDataMismatchError,
    model_folders,
    read_meta,
)
from welfare.retrain_words import (
    build_again,
    compare_engine,
    engine_built,
    engine_models,
    renamed,
    train_again,
    train_engine_again,
)
from welfare.statements import figure

log = logging.getLogger(__name__)

# Left out of the version: how the model was made (code, metrics) rather than what it is, the
# head files' digests (their content is in it), the taxonomy and the feature basis (the data
# hash covers the features computed under them), and the calibration, which follows from the
# heads, data, recipe and seed in it (a forest sums its trees in thread order, so refitting one
# moves Platt's figures in the last digits: with them, one recipe on one data changes version).
# Nor the label basis: the data hash holds the ASP labels the line drew, so labels drawn under
# another line that differ give another version, and the same labels fit the same heads.
_NOT_VERSIONED = frozenset(
    (
        *("version", "code_version", "metrics", "temperature", "platt", "head_sha256"),
        *("taxonomy_sha256", "feature_basis", "label_basis"),
    )
)
LINE, LINE_SOURCE = "poverty_line_kzt", "poverty_line_source"
# Recipe keys that choose models rather than fit them: which to report and which to serve, and
# the default number of families (the training-data hash covers the data itself).
RECIPE_CHOOSING = ("default_model", "serving_model", "n_families")


def fitting_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """The part of a recipe (FusionRecipe.model_dump) that decides what a fit gives."""
    return {k: v for k, v in recipe.items() if k not in RECIPE_CHOOSING}


def model_version(meta: FusionMeta, level_head: Head, asp_head: Head) -> str:
    """`<name>-<digest>` of the training data, recipe, seed, decoding and both fitted heads:
    two models that can predict differently never share a version."""
    described = {k: v for k, v in asdict(meta).items() if k not in _NOT_VERSIONED}
    if described["recipe"] is not None:
        described["recipe"] = fitting_recipe(described["recipe"])
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    for head in (level_head, asp_head):
        digest.update(head_content(head))
    return f"{meta.name}-{digest.hexdigest()[:12]}"


def head_content(head: Head) -> bytes:
    """A fitted head as bytes that change whenever its outputs can: LightGBM's model text,
    or a forest's tree arrays field by field (the node records hold padding bytes that are
    never set, so the pickle itself may differ between two identical forests)."""
    if isinstance(head, LightGBMHead):
        return head.booster.model_to_string().encode()
    if isinstance(head, CumulativeLightGBMHead):
        return b"\0".join(b.model_to_string().encode() for b in head.boosters)
    if isinstance(head, ForestHead):
        digest = hashlib.sha256(f"{head.n_classes}:{head.forest.classes_.tolist()}".encode())
        for tree in head.forest.estimators_:
            state = tree.tree_.__getstate__()
            nodes = state["nodes"]
            for column in nodes.dtype.names:
                digest.update(np.ascontiguousarray(nodes[column]).tobytes())
            digest.update(np.ascontiguousarray(state["values"]).tobytes())
        return digest.digest()
    raise TypeError(f"no content digest for a {type(head).__name__} head")


def check_feature_basis(meta: FusionMeta, config: WelfareConfig, *, source: str) -> None:
    """Refuse a model whose features were computed otherwise than `config` and this code compute
    them (ModelMismatchError saying what changed, `feature_basis_change`, and the command that
    builds the model again in its folder `source`, `retrain_words.build_again`). One saved
    before the basis was recorded loads with a warning: nothing tells whether it still holds."""
    if meta.feature_basis is None:
        log.warning(
            "%s: fusion model %s does not record what its features were computed under (saved "
            "before it was recorded), so a change of the subsistence minimum, the criteria or "
            "the feature code since it was trained goes unnoticed; retrain it with %s to "
            "record it",
            source,
            meta.version,
            build_again(Path(source), meta),
        )
        return
    why = feature_basis_change(meta, config)
    if why:
        raise ModelMismatchError(
            f"{source}: fusion model {meta.version} was trained on {why}, so it would read a "
            "family's features with other values under the same names; retrain it with "
            f"{build_again(Path(source), meta)}"
        )


def check_basis_alike(
    out: Path,
    *,
    replacing: Collection[str],
    config: WelfareConfig,
    n: int,
    seed: int,
    keep_meaningless: bool = False,
) -> None:
    """Refuse to save models as out/<name> for each name in `replacing` when `out` holds other
    models `welfare train` built whose features were computed otherwise than `config` and this
    code compute them, or whose ASP labels were drawn under another poverty line than
    `config`'s (TrainingDataMismatchError naming them, what changed, its `reason`, and the
    command that trains them again with the new ones on data (n, seed), with --keep-meaningless
    where they or this run need it, `retrain_words.train_again`), before anything is generated or
    trained: `welfare evaluate` would refuse them on load, and their training-data hash need not
    tell (a FEATURES_VERSION bump that leaves the training families' values as they were, a
    line moved past no training family's income). A model of `welfare train-engine` there is
    left to `check_trained_alike`: it was trained on other data, whatever its basis."""
    now = feature_basis(config)
    others = {p.name: read_meta(p) for p in model_folders(out) if p.name not in replacing}
    changed: dict[str, tuple[list[str], str | None]] = {}  # name: (feature changes, line's)
    engine = engine_built(others)
    for name, meta in others.items():
        if name in engine:
            continue
        features = [] if meta.feature_basis is None else basis_changes(meta.feature_basis, now)
        line = label_basis_change(meta, config)
        if features or line:
            changed[name] = (features, line)
    if not changed:
        return
    alike: dict[str, list[str]] = {}  # models changed alike are named together
    for name, (features, line) in changed.items():
        alike.setdefault("; ".join([*features, *([line] if line else [])]), []).append(name)
    said = "; ".join(f"{', '.join(names)}: {why}" for why, names in alike.items())
    what = " or ".join(
        kind
        for kind, found in (
            ("features computed otherwise", any(f for f, _ in changed.values())),
            ("ASP labels drawn under another poverty line", any(ln for _, ln in changed.values())),
        )
        if found
    )
    metas = {name: others[name] for name in changed}
    command = train_again(
        out, metas, n=n, seed=seed, first=sorted(replacing), keep_meaningless=keep_meaningless
    )
    raise TrainingDataMismatchError(
        f"{out} also holds {', '.join(changed)}, trained on {what} than "
        f"{', '.join(sorted(replacing))} would be now ({said}), and `welfare evaluate` refuses "
        f"such a model: train them again together ({command}{renamed(out, metas)}), or leave "
        "--model out to train all, or train into a new folder (--out)",
        reason=f"trained on {what} than now ({said})",
    )


def feature_basis_change(meta: FusionMeta, config: WelfareConfig) -> str | None:
    """Why the model of `meta` was trained on features computed otherwise than `config` and this
    code compute them (under the same names it would read other values: money in another
    subsistence minimum, a category it never saw as none of its own, another count of missing
    criteria), or None when they are computed alike or it records no basis."""
    if meta.feature_basis is None:
        return None
    changes = basis_changes(meta.feature_basis, feature_basis(config))
    return f"features computed otherwise than now ({'; '.join(changes)})" if changes else None


def basis_changes(recorded: object, now: Mapping[str, Any]) -> list[str]:
    """What differs between a recorded feature basis (fusion.json, so any JSON value) and `now`
    (`welfare.features.feature_basis`), in words; empty when they agree."""
    if isinstance(recorded, Mapping) and recorded.get("code") != now["code"]:
        # Another version of the code may record its basis in another form: this says it all.
        return [
            f"the feature code (welfare/features.py FEATURES_VERSION) was version "
            f"{recorded.get('code')}, now {now['code']}"
        ]
    if not _readable(recorded, now):
        return ["fusion.json's feature_basis is not one this version reads"]
    changes = []
    minimum = "subsistence_minimum_kzt"
    if recorded[minimum] != now[minimum]:
        changes.append(
            f"configs/welfare.yaml thresholds.{minimum} was {recorded[minimum]:g}, now "
            f"{now[minimum]:g}: the figures counted in subsistence minimums would be rescaled"
        )
    return changes + _criteria_changes(recorded["criteria"], now["criteria"])


def _readable(recorded: object, now: Mapping[str, Any]) -> TypeGuard[Mapping[str, Any]]:
    """Whether a recorded feature basis has the form of `now`'s (`feature_basis`)."""
    if not (isinstance(recorded, Mapping) and set(recorded) == set(now)):
        return False
    criteria = recorded["criteria"]
    return (
        is_finite_number(recorded["subsistence_minimum_kzt"])
        and isinstance(criteria, Mapping)
        and all(
            v is None or (isinstance(v, list) and all(isinstance(c, str) for c in v))
            for v in criteria.values()
        )
    )


def _criteria_changes(
    recorded: Mapping[str, list[str] | None], now: Mapping[str, list[str] | None]
) -> list[str]:
    """Criteria added or gone (`missing_criteria` counts them) and category criteria whose
    categories changed (a family of a new one reads as none of the model's)."""
    changes = []
    added, gone = sorted(set(now) - set(recorded)), sorted(set(recorded) - set(now))
    if added:
        changes.append(f"configs/welfare.yaml adds criteria {', '.join(added)}")
    if gone:
        changes.append(f"configs/welfare.yaml no longer has criteria {', '.join(gone)}")
    for name in sorted(set(now) & set(recorded)):
        was, categories = recorded[name], now[name]
        if (was is None) != (categories is None):
            kind = "no longer a category criterion" if categories is None else "now a category one"
            changes.append(f"criterion {name} is {kind}")
        elif was is not None and categories is not None and set(was) != set(categories):
            new = [c for c in categories if c not in was]
            lost = [c for c in was if c not in categories]
            said = ([f"{', '.join(new)} added"] if new else []) + (
                [f"{', '.join(lost)} gone"] if lost else []
            )
            changes.append(f"criterion {name}'s categories changed: {'; '.join(said)}")
    return changes


def label_basis(config: WelfareConfig) -> dict[str, Any]:
    """What a model's ASP labels are drawn under in `config`: per-capita income under the poverty
    line (training.synth.families), recorded with the line's source. The line decides no feature
    value, only what P(ASP eligible) means: a model answers for the line it was trained under."""
    return {
        LINE: config.thresholds.poverty_line_kzt,
        LINE_SOURCE: config.thresholds.poverty_line_source,
    }


def check_label_basis(meta: FusionMeta, config: WelfareConfig, *, source: str) -> None:
    """Refuse a model whose ASP labels were drawn under another poverty line than `config`'s
    (ModelMismatchError naming both lines and the command that builds the model again in its
    folder `source`, `retrain_words.build_again`): its P(eligible) is the chance of income under
    the old line, which the service would show as under today's. One saved before the line was
    recorded loads with a warning: nothing tells which line it answers for."""
    if meta.label_basis is None:
        log.warning(
            "%s: fusion model %s does not record the poverty line its ASP labels were drawn under "
            "(saved before it was recorded), so its P(eligible) may answer for another line than "
            "configs/welfare.yaml thresholds.poverty_line_kzt, %s KZT now; retrain it with %s "
            "to record it",
            source,
            meta.version,
            figure(config.thresholds.poverty_line_kzt),
            build_again(Path(source), meta),
        )
        return
    why = label_basis_change(meta, config)
    if why:
        raise ModelMismatchError(
            f"{source}: fusion model {meta.version} cannot give P(ASP eligible) under today's "
            f"poverty line: {why}; retrain it with {build_again(Path(source), meta)}"
        )


def check_label_bases(
    folder: Path, metas: Mapping[str, FusionMeta], config: WelfareConfig, *, n: int, seed: int
) -> None:
    """Refuse the fusion models of `folder` (`metas`, by their folder's name) whose ASP labels
    were drawn under another poverty line than `config`'s, all in one ModelMismatchError: what
    each answers for (`label_basis_change`) and the commands that train them again under today's
    line on data (n, seed), the data of the folder's other models: `welfare train` with its
    options for those it built (welfare.retrain_words: each by the model it records, with
    --keep-meaningless where needed), `welfare train-engine` for those it built, each moved to a
    folder of its own first and trained again there with the options it records, then compared
    there with the folder's models by `welfare evaluate-real` (`compare_engine`).
    A model loaded on its own is checked by `check_label_basis`."""
    refused = {
        name: why for name, meta in metas.items() if (why := label_basis_change(meta, config))
    }
    if not refused:
        return
    alike: dict[str, list[str]] = {}  # models answering for the same line are named together
    for name, why in refused.items():
        alike.setdefault(why, []).append(name)
    said = (
        next(iter(alike))
        if len(alike) == 1
        else "; ".join(f"{', '.join(names)}: {why}" for why, names in alike.items())
    )
    engine = engine_models(
        folder,
        {name: metas[name] for name in refused},
        lambda own, meta: train_engine_again(own, meta, n=n, seed=seed),
    )
    simulated = {name: metas[name] for name in refused if name not in engine}
    advice = []
    if engine:  # moved out first: `welfare train` refuses to train beside them
        advice.append(
            f"{engine.names} {engine.was} built by `{TRAIN_ENGINE}`: train {engine.it} again "
            f"under today's line in a folder of its own ({engine.moves})"
        )
    if simulated:
        advice.append(
            f"train {', '.join(simulated)} again under today's line "
            f"({train_again(folder, simulated, n=n, seed=seed)}, or leave --model out to train "
            f"all{renamed(folder, simulated)})"
        )
    if engine:
        fused = config.fusion.default_model
        advice.append(compare_engine(folder, metas, engine, simulated, n=n, seed=seed, fused=fused))
    raise ModelMismatchError(
        f"{folder}: {', '.join(refused)} cannot give P(ASP eligible) under today's poverty line "
        f"({said}); {'; '.join(advice)}"
    )


def label_basis_change(meta: FusionMeta, config: WelfareConfig) -> str | None:
    """Why the model of `meta` answers for another poverty line than `config`'s, naming both
    (the sources too where they differ), or None when the line is the same (a source in other
    words draws the same labels) or it records none."""
    recorded, now = meta.label_basis, label_basis(config)
    if recorded is None:
        return None
    if not (
        isinstance(recorded, Mapping)
        and is_finite_number(recorded.get(LINE))
        and isinstance(recorded.get(LINE_SOURCE), str)
    ):
        return "fusion.json's label_basis is not one this version reads"
    if recorded[LINE] == now[LINE]:
        return None
    was, is_now = f"{figure(recorded[LINE])} KZT", f"{figure(now[LINE])} KZT now"
    if recorded[LINE_SOURCE].strip() != now[LINE_SOURCE].strip():
        was += f" (source: {recorded[LINE_SOURCE].strip()})"
        is_now += f", source: {now[LINE_SOURCE].strip()}"
    return (
        f"its ASP labels were drawn under the poverty line {was} (configs/welfare.yaml "
        f"thresholds.{LINE} is {is_now}), so its P(eligible) is the chance of per-capita income "
        f"under {figure(recorded[LINE])} KZT"
    )
