"""A fusion model's version: `<name>-<digest>` of what decides its predictions (training data,
the fitting part of the recipe, seed, decoding and both fitted heads' content), so two models
that can predict differently never share one. Split from welfare/fusion.py."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import numpy as np

from welfare.heads import CumulativeLightGBMHead, ForestHead, Head, LightGBMHead
from welfare.model_folder import FusionMeta

# Left out of the version: how the model was made (code, metrics) rather than what it is, the
# head files' digests (their content is in it), the taxonomy (the data hash covers the photo
# features read under it), and the calibration, which follows from the heads, data, recipe and
# seed in it (a forest sums its trees in thread order, so refitting one moves Platt's figures
# in the last digits: with them, one recipe on one data changes version).
_NOT_VERSIONED = frozenset(
    ("version", "code_version", "metrics", "temperature", "platt", "head_sha256", "taxonomy_sha256")
)
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
