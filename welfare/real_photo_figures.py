"""How the engine read the study's photos, beside their plan and the simulation of them.

Part of what `shanyraq welfare evaluate-real` reports (welfare.real_evaluation): per photo, the
quality gate, room, grade and abstentions of the engine against the photo's planned labels and
the simulated reading of the same photo (`photo_figures`); per family, how its photos' mean
grade follows its true level on each reading (`condition_vs_level`). Apart from the study's
run because these read only its outcomes: nothing here scores, trains or resamples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from welfare.dataset import FamilyData
from welfare.real_families import HeldOut
from welfare.real_scores import RealPhoto, photo_key


def condition_vs_level(data: Mapping[str, FamilyData]) -> dict[str, float | None]:
    """Spearman correlation of the family's mean photo grade with its true level."""
    out: dict[str, float | None] = {}
    for reading, family_data in data.items():
        grade = family_data.features["vis_condition_mean"]
        known = grade.notna()
        level = family_data.table["latent_level"][known]
        rho = float(grade[known].corr(level, method="spearman")) if known.sum() > 2 else np.nan
        out[reading] = None if np.isnan(rho) else rho
    return out


def photo_figures(
    held: HeldOut, photos: dict[str, RealPhoto], *, reused: Mapping[str, bool]
) -> dict[str, Any]:
    """How the engine read the rendered photos, beside the simulation of the same photos.

    A photo's grade is the median of its grade distribution (`PhotoScore.median_condition`),
    as the photo model's own metrics (training.metrics) and the annotators' pre-annotations
    decode it, not the most probable grade: the figures here are the ones the model card states.
    """
    rows = []
    for _, p in held.planned:
        real = photos.get(photo_key(p))
        if real is None:  # not renderable at the study's size
            continue
        sim = held.simulated[p.family_id][p.index]
        rows.append(
            {
                "planned": p.unusable_reason or "usable",
                "room": p.room,
                "condition": p.condition,
                "gate": real.quality_status,
                "reused": reused[real.key],
                "engine_room": real.score.top_room,
                "engine_grade": real.score.median_condition,
                "engine_abstain": " + ".join(real.score.abstain_reasons) or "none",
                "sim_grade": sim.score.median_condition,
                "sim_abstain": " + ".join(sim.score.abstain_reasons) or "none",
            }
        )
    frame = pd.DataFrame(rows)
    gate = frame.groupby("planned")["gate"].value_counts().unstack(fill_value=0)
    home = frame[(frame["condition"].notna()) & (frame["planned"] == "usable")]
    graded = {
        "engine": _graded(home, grade="engine_grade", abstain="engine_abstain"),
        "simulated": _graded(home, grade="sim_grade", abstain="sim_abstain"),
    }
    return {
        "n_photos": len(frame),
        "gate_by_planned": {
            str(k): {str(c): int(v) for c, v in r.items()} for k, r in gate.iterrows()
        },
        "room_accuracy": float((frame["engine_room"] == frame["room"]).mean()),
        "abstained": {
            "engine": {str(k): int(v) for k, v in frame["engine_abstain"].value_counts().items()},
            "simulated": {str(k): int(v) for k, v in frame["sim_abstain"].value_counts().items()},
        },
        "reused_flagged": int(frame["reused"].sum()),
        "reused_by_planned": {
            str(k): int(v) for k, v in frame[frame["reused"]]["planned"].value_counts().items()
        },
        "condition_on_usable_photos": graded,
    }


def _graded(home: pd.DataFrame, *, grade: str, abstain: str) -> dict[str, Any]:
    """Median-grade accuracy and QWK on the photos a reading did not abstain on."""
    from sklearn.metrics import cohen_kappa_score

    used = home[home[abstain] == "none"]
    truth = used["condition"].astype(int)
    kappa = (
        float(cohen_kappa_score(truth, used[grade], weights="quadratic"))
        if truth.nunique() > 1
        else float("nan")
    )
    return {
        "n": len(used),
        "accuracy": float((used[grade] == truth).mean()) if len(used) else None,
        "qwk": None if np.isnan(kappa) else kappa,
    }
