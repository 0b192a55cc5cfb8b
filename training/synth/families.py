"""Synthetic families: a latent welfare level drives the family card and the home's photos.

`generate_families` plans everything without pixels (others simulate scores from the plan);
`write_families` writes families.csv and, when asked, renders the planned photos with a
manifest split by family. The special cases that make fusion matter are drawn at the rates
of configs/synth.yaml and described in datasets/cards/synthetic.md.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shanyraq.errors import ConfigError
from shanyraq.manifest import ManifestRow, write_manifest
from shanyraq.splits import split_rows
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from training.synth.config import SynthConfig, get_synth_config
from training.synth.output import check_output, generation, staged_output
from training.synth.record import PROFILE_LEVELS, sample_criteria
from training.synth.spec import PhotoSpec, sample_spec
from welfare.criteria import WelfareConfig, get_welfare_config

logger = logging.getLogger(__name__)

CASES = ("typical", "hidden_income", "poor_decent_rental", "missing_photos", "rural_solid_fuel")
LEAD_COLUMNS = (
    "family_id",
    "region",
    "settlement",
    "head_gender",
    "latent_level",
    "asp_eligible",
    "case",
    "n_photos",
)
_STOVE = "solid_fuel_stove"
_FORCE = 12.0  # log-odds that make a sign all but certain


@dataclass(frozen=True)
class PlannedPhoto:
    """One photo a family's inspector takes: labels, style and whether it is usable."""

    family_id: str
    room: str
    condition: int | None
    signs: frozenset[str]
    style: int
    usable: bool
    unusable_reason: str | None  # blurred, too_dark, overexposed, not_a_home
    wear: float = 0.3
    index: int = 0  # photo number within the family


@dataclass(frozen=True)
class SyntheticFamilies:
    """One table row per family, and every planned photo (linked by family_id)."""

    table: pd.DataFrame
    photos: list[PlannedPhoto]
    seed: int


def _draw(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = sorted(weights)
    p = np.array([weights[n] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _case_and_level(rng: np.random.Generator, config: SynthConfig) -> tuple[str, int]:
    fam = config.families
    rates = dict(fam.case_rates)
    rates["typical"] = max(0.0, 1.0 - sum(rates.values()))
    case = _draw(rng, rates)
    if case in fam.case_levels:
        low, high = fam.case_levels[case]
        return case, int(rng.integers(low, high + 1))
    weights = np.array(fam.level_weights, np.float64)
    return case, int(rng.choice(len(weights), p=weights / weights.sum())) + 1


def _rooms(rng: np.random.Generator, n: int, taxonomy: Taxonomy, *, rural: bool) -> list[str]:
    """An inspector's round: kitchen and a sleeping room first, then the rest at random."""
    dwelling = taxonomy.dwelling_rooms
    first = ["kitchen", str(rng.choice(["bedroom", "living_room"]))]
    weights = np.array([1.6 if (r == "exterior" and rural) else 1.0 for r in dwelling])
    rest = [
        dwelling[int(i)]
        for i in rng.choice(len(dwelling), size=max(0, n - 2), p=weights / weights.sum())
    ]
    return [r for r in first if r in dwelling][:n] + rest


@dataclass(frozen=True)
class _Home:
    """What a family's case and level decide about its home and its photo round."""

    n_photos: int
    unusable_rate: float
    welfare: float
    extra_logits: dict[str, float]


def _home(
    rng: np.random.Generator, *, case: str, level: int, rural: bool, config: SynthConfig
) -> _Home:
    fam = config.families
    if case == "missing_photos":
        low, high = fam.missing_photos_count
        unusable_rate = fam.missing_photos_unusable_rate
    else:
        low, high = fam.photos_per_family
        unusable_rate = fam.unusable_photo_rate
    n = int(rng.integers(low, high + 1))
    if case == "poor_decent_rental":  # a decent city flat with central heating
        welfare = float(rng.uniform(*fam.decent_rental_home_welfare))
        extra = {_STOVE: -_FORCE}
    else:
        welfare = float(np.clip((level - 1) / 5 + rng.normal(0, fam.home_welfare_sd), 0, 1))
        extra = {_STOVE: fam.rural_stove_extra_logit} if rural else {}
    return _Home(n, unusable_rate, welfare, extra)


def _plan_photos(
    rng: np.random.Generator,
    family_id: str,
    *,
    case: str,
    level: int,
    rural: bool,
    config: SynthConfig,
    taxonomy: Taxonomy,
) -> list[PlannedPhoto]:
    style = int(rng.integers(config.photos.n_styles))
    home = _home(rng, case=case, level=level, rural=rural, config=config)
    photos = []
    for index, room in enumerate(_rooms(rng, home.n_photos, taxonomy, rural=rural)):
        logits = dict(home.extra_logits)
        shows_stove = case == "rural_solid_fuel" and index == 0
        if shows_stove:
            logits[_STOVE] = _FORCE  # the kitchen stove is always shown, and usable
        spec = sample_spec(
            config, taxonomy, rng, room=room, style=style, welfare=home.welfare, extra_logits=logits
        )
        unusable = rng.random() < home.unusable_rate and not shows_stove
        reason = _draw(rng, config.families.unusable_reasons) if unusable else None
        if reason == "not_a_home":  # the inspector sent a photo of something else
            spec = PhotoSpec(taxonomy.not_dwelling, None, frozenset(), style, 0.0)
        photos.append(
            PlannedPhoto(
                family_id=family_id,
                room=spec.room,
                condition=spec.condition,
                signs=spec.signs,
                style=style,
                usable=reason is None,
                unusable_reason=reason,
                wear=spec.wear,
                index=index,
            )
        )
    return photos


def generate_families(
    n: int, *, seed: int, config: SynthConfig | None = None, welfare: WelfareConfig | None = None
) -> SyntheticFamilies:
    """Plan `n` families (table + photo labels), deterministic for `seed`; no pixels."""
    if n < 1:
        raise ValueError("n must be at least 1")
    config = config or get_synth_config()
    welfare = welfare or get_welfare_config()
    taxonomy = get_taxonomy()
    fam = config.families
    _check_welfare_labels(welfare, config)
    records: list[dict[str, object]] = []
    photos: list[PlannedPhoto] = []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0xFA])
        family_id = f"fam-{seed}-{i:06d}"
        case, level = _case_and_level(rng, config)
        rural = case == "rural_solid_fuel" or bool(rng.random() < fam.rural_rate)
        region = welfare.regions[int(rng.integers(len(welfare.regions)))]
        gender = "female" if rng.random() < fam.female_head_rate else "male"
        criteria = sample_criteria(rng, level=level, case=case, settings=fam, welfare=welfare)
        planned = _plan_photos(
            rng, family_id, case=case, level=level, rural=rural, config=config, taxonomy=taxonomy
        )
        income = criteria["per_capita_income_kzt"]
        assert isinstance(income, int | float)
        records.append(
            {
                "family_id": family_id,
                "region": region,
                "settlement": "rural" if rural else "urban",
                "head_gender": gender,
                "latent_level": level,
                "asp_eligible": bool(income < welfare.thresholds.poverty_line_kzt),
                "case": case,
                "n_photos": len(planned),
                **criteria,
            }
        )
        photos += planned
    return SyntheticFamilies(table=_table(records, welfare), photos=photos, seed=seed)


def _check_welfare_labels(welfare: WelfareConfig, config: SynthConfig) -> None:
    """The contract's values (urban/rural, female/male, levels) must be welfare.yaml's own."""
    levels = len(config.families.level_weights)
    if not levels == len(welfare.level_values) == PROFILE_LEVELS:
        raise ConfigError(
            f"configs/synth.yaml: families.level_weights gives {levels} levels, "
            f"configs/welfare.yaml has {len(welfare.level_values)} and the generator's profile "
            f"{PROFILE_LEVELS}; "
            "give one weight (and one income multiple) per welfare level"
        )
    if not {"urban", "rural"} <= set(welfare.settlements) or not {"female", "male"} <= set(
        welfare.head_genders
    ):
        raise ConfigError(
            "configs/welfare.yaml: the generator needs settlements urban and rural and "
            "head_genders female and male; add them or change training/synth/families.py"
        )


def _table(records: list[dict[str, object]], welfare: WelfareConfig) -> pd.DataFrame:
    table = pd.DataFrame.from_records(records, columns=[*LEAD_COLUMNS, *welfare.criterion_names])
    for criterion in welfare.criteria:
        column = table[criterion.name]
        if criterion.kind in ("flag", "count", "level"):
            table[criterion.name] = column.astype("Int64")
        elif criterion.kind == "category":
            table[criterion.name] = column.astype("string")
        else:
            table[criterion.name] = column.astype("float64")
    return table


def write_families(
    families: SyntheticFamilies,
    out_dir: Path,
    *,
    seed: int,
    render: bool = True,
    size: int = 256,
    progress: bool = False,
    config: SynthConfig | None = None,
    overwrite: bool = False,
    only: Collection[str] | None = None,
) -> Path:
    """Write out_dir/families.csv (returned); with render, also photos/ and manifest.csv, of
    the families `only` names where given (each photo as the whole generation renders it).

    A non-empty out_dir is refused (OutputExistsError) unless it holds this same generation
    or `overwrite` is set. Everything is written through a staging folder and swapped in
    (training.synth.output), so the table and the manifest always describe the same families;
    without render, a photos/ and manifest.csv of an earlier generation are removed.
    """
    config = config or get_synth_config()
    out_dir = Path(out_dir)
    table_csv = families.table.to_csv(index=False)
    record = generation(
        "families",
        config=config,
        taxonomy=get_taxonomy(),
        n=len(families.table),
        seed=seed,
        render=render,
        size=size if render else None,
        table_sha256=hashlib.sha256(table_csv.encode()).hexdigest(),
        **({"rendered_families": sorted(only)} if render and only is not None else {}),
    )
    check_output(out_dir, record, overwrite=overwrite)
    with staged_output(out_dir, record) as staging:
        (staging / "families.csv").write_text(table_csv, encoding="utf-8")
        n_photos = 0
        if render:
            n_photos = _render_photos(
                families, staging, seed=seed, size=size, config=config, progress=progress,
                only=only,
            )  # fmt: skip
    logger.info("wrote %d families and %d photos to %s", len(families.table), n_photos, out_dir)
    return out_dir / "families.csv"


def _render_photos(
    families: SyntheticFamilies,
    out_dir: Path,
    *,
    seed: int,
    size: int,
    config: SynthConfig,
    progress: bool,
    only: Collection[str] | None = None,
) -> int:
    """Render the planned photos (of the families `only` names, where given) into
    out_dir/photos and write out_dir/manifest.csv. A photo's pixels follow from the seed and
    its place among all the generation's photos, so a subset renders each as the whole does."""
    from training.synth.photos import RenderJob, run_jobs, worker_count

    (out_dir / "photos").mkdir()
    planned = [(i, p) for i, p in enumerate(families.photos) if only is None or p.family_id in only]
    names = [f"photos/{p.family_id}-{p.index:02d}.jpg" for _, p in planned]
    jobs = [
        RenderJob(i, seed, p, size, out_dir / name, config)
        for (i, p), name in zip(planned, names, strict=True)
    ]
    results = run_jobs(jobs, workers=worker_count(config, len(jobs)), progress=progress)
    case_of = dict(zip(families.table["family_id"], families.table["case"], strict=True))
    rows = [
        _manifest_row(p, name, result.sha256, result.kind, case=case_of[p.family_id])
        for (_, p), name, result in zip(planned, names, results, strict=True)
        if result is not None  # a photo the generator could not draw (logged by run_jobs)
    ]
    rows = split_rows(rows, fractions=config.photos.split_fractions, by="condition", seed=seed)
    write_manifest(out_dir / "manifest.csv", rows)
    return len(rows)


def _manifest_row(
    photo: PlannedPhoto, path: str, sha256: str, kind: str, *, case: str
) -> ManifestRow:
    return ManifestRow(
        path=path,
        sha256=sha256,
        family_id=photo.family_id,
        split="train",  # replaced by split_rows
        room=photo.room,
        condition=photo.condition,
        signs=photo.signs,
        source="skimage" if kind == "package_photo" else "synthetic",
        extra={
            "style": str(photo.style),
            "family_case": case,
            "usable": "1" if photo.usable else "0",
            "unusable_reason": photo.unusable_reason or "",
            "subject": kind,
        },
    )
