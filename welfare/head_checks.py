"""Load checks of a fusion model's head files: each must be a fit of this model (its feature
and level counts those fusion.json lists, its bytes the ones fusion.json records), or its
outputs would be read as other features or other levels, or under another model's version,
without a word. And of the taxonomy its photo features were read under (`check_taxonomy`).
"""

from __future__ import annotations

from pathlib import Path

from shanyraq.errors import ModelMismatchError
from shanyraq.manifest import sha256_file
from shanyraq.taxonomy import Taxonomy
from welfare.heads import Head, head_feature_count, head_level_count
from welfare.model_folder import FusionMeta, asp_head_class, level_head_class
from welfare.retrain_words import build_again


def _other_model(folder: Path, meta: FusionMeta) -> str:
    """What to do about a head file of another model: the command is the one that builds this
    model again in its `folder` (`retrain_words.build_again`)."""
    return (
        "it comes from another model; copy the model folder whole, or retrain it with "
        f"{build_again(folder, meta)}"
    )


def check_taxonomy(meta: FusionMeta, taxonomy: Taxonomy, *, source: str) -> None:
    """Refuse a model whose photo features were read under another taxonomy than `taxonomy`
    (ModelMismatchError): under the same names they would be other features (signs pooled by
    what each points to, grades, the rooms and signs a photo may show), read without a word;
    the refusal names the command that builds it again in its folder `source`
    (`retrain_words.build_again`). A tabular model reads none, and one saved before it was
    recorded has nothing to check."""
    recorded = meta.taxonomy_sha256
    if recorded is None or recorded == taxonomy.fingerprint():
        return
    raise ModelMismatchError(
        f"{source}: fusion model {meta.version} reads photo features under the taxonomy it was "
        f"trained with ({str(recorded)[:12]}), but configs/taxonomy.yaml is now version "
        f"{taxonomy.version} ({taxonomy.fingerprint()[:12]}), so its photo features would mean "
        f"other things; retrain it with {build_again(Path(source), meta)}, or serve a tabular "
        "model"
    )


def check_heads(folder: Path, meta: FusionMeta, heads: dict[str, Head]) -> None:
    """Refuse a head file of another model (ModelMismatchError naming it): one fitted on
    another number of features than fusion.json lists (its columns would be read as other
    features, or it would fail mid-way), or giving another number of levels (its outputs are
    read by their place, so they would be read as other levels without a word)."""
    wanted = {
        "level": (len(meta.levels), f"fusion.json lists {len(meta.levels)} levels {meta.levels}"),
        "asp": (2, "the ASP answer has 2 (not eligible, eligible)"),
    }
    files = {
        "level": f"level{level_head_class(meta.learner, meta.level_objective).suffix}",
        "asp": f"asp{asp_head_class(meta.learner).suffix}",
    }
    for part, head in heads.items():
        fitted = head_feature_count(head)
        if fitted != len(meta.features):
            raise ModelMismatchError(
                f"{folder / files[part]}: the {part} head file was fitted on {fitted} features, "
                f"but fusion.json lists {len(meta.features)}: {_other_model(folder, meta)}"
            )
        gives, (needed, listed) = head_level_count(head), wanted[part]
        if gives != needed:
            raise ModelMismatchError(
                f"{folder / files[part]}: the {part} head gives {gives} levels, "
                f"but {listed}: {_other_model(folder, meta)}"
            )
    digests = meta.head_sha256
    if digests is None:  # saved before digests were kept: nothing to check the bytes against
        return
    # Only a missing map is a model of before: an empty one ([] or {} too) would skip every check.
    if not (isinstance(digests, dict) and all(isinstance(v, str) for v in digests.values())):
        raise ModelMismatchError(
            f"{folder / 'fusion.json'}: 'head_sha256' is not a map of head file names to "
            "digests, so the head files cannot be checked; copy the model folder whole from "
            f"where it was saved, or retrain it with {build_again(folder, meta)}"
        )
    for part, name in files.items():
        recorded = digests.get(name)
        if recorded is None:  # a model saved with digests records every head's
            raise ModelMismatchError(
                f"{folder / 'fusion.json'}: 'head_sha256' records no digest of {name}, the "
                f"{part} head file this model reads (it records "
                f"{', '.join(sorted(digests)) or 'none'}), so the file cannot be checked: "
                f"{_other_model(folder, meta)}"
            )
        if recorded != sha256_file(folder / name):
            raise ModelMismatchError(
                f"{folder / name}: not the file this model was saved with (its sha256 differs "
                f"from the one fusion.json records; a fit of the same model on other data "
                f"passes every count): {_other_model(folder, meta)}"
            )
