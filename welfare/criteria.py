"""configs/welfare.yaml as typed objects: criteria, levels, thresholds, rules, targets, recipe."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from shanyraq.config import StrictModel, default_configs_dir, load_config

Group = Literal["material", "non_material", "dependency_load", "self_realisation", "hidden_income"]
Kind = Literal["money", "count", "area", "ratio", "flag", "level", "category"]


class Criterion(StrictModel):
    """One Digital Family Card criterion with its unit, valid range and source."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    group: Group
    kind: Kind
    unit: str
    description: str
    source: str
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    # Counts of people who are part of the group another count counts (e.g. members_total):
    # this count can never exceed any of them.
    within: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Criterion:
        if self.kind == "category":
            if not self.categories:
                raise ValueError(f"{self.name}: a category criterion needs `categories`")
        elif self.kind != "flag" and (self.min is None or self.max is None):
            raise ValueError(f"{self.name}: a {self.kind} criterion needs `min` and `max`")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.name}: min {self.min} is above max {self.max}")
        twice = sorted({x for x in self.categories or [] if (self.categories or []).count(x) > 1})
        if twice:  # one feature column per category: two of one name
            raise ValueError(f"{self.name}: categories {twice} are listed more than once")
        if self.within and self.kind != "count":
            raise ValueError(f"{self.name}: only a count can be `within` other counts")
        return self


class DisjointCounts(StrictModel):
    """Counts of people no one can be in twice: together they cannot exceed `within`."""

    counts: list[str] = Field(min_length=2)
    within: str
    why: str


class FairnessIntervals(StrictModel):
    """When a group's bootstrap interval stands in the fairness report (welfare/fairness.py);
    elsewhere it gets Wilson's score interval."""

    # The least share of the resamples that must draw the group with its figure defined.
    min_drawn_share: float = Field(gt=0, le=1)
    # Fewer resamples (`welfare evaluate --n-boot`): no bootstrap interval at all.
    min_bootstrap_draws: int = Field(ge=1)

    @field_validator("min_drawn_share")
    @classmethod
    def _share_covers(cls, share: float) -> float:
        from welfare.fairness_intervals import CI_QUANTILES  # the fairness module reads this one

        coverage = round(CI_QUANTILES[1] - CI_QUANTILES[0], 12)
        if share < coverage:
            raise ValueError(
                f"{share} is below the intervals' coverage {coverage:.0%}: the resamples that "
                f"cannot measure a group could then outnumber the interval's two tails; set it "
                f"from {coverage} to 1"
            )
        return share

    @field_validator("min_bootstrap_draws")
    @classmethod
    def _enough_draws(cls, draws: int) -> int:
        from welfare.fairness_intervals import CI_QUANTILES, least_bootstrap_draws

        least, coverage = least_bootstrap_draws(), 100 * (CI_QUANTILES[1] - CI_QUANTILES[0])
        if draws < least:
            raise ValueError(
                f"{draws} resamples cannot make a {coverage:.0f} % percentile interval: even "
                f"their lowest and highest draw span less than {coverage:.0f} % of the bootstrap; "
                f"set it to {least} or more"
            )
        return draws


class FairnessConfig(StrictModel):
    # A group's figure that rests on fewer families (eligible ones for fnr and exclusion) is
    # shown but marked too small, and left out of the largest gap.
    min_families_per_group: int = Field(ge=1)
    intervals: FairnessIntervals


class Targets(StrictModel):
    """What the default fusion model should reach (the issue's targets); reported, not enforced.

    Shares are fractions of families (0..1); the hidden-income gain is in percentage points.
    """

    level_accuracy: float = Field(ge=0, le=1)
    # Level accuracy of the fused model minus the tabular-only one on hidden-income families.
    hidden_income_gain_points: float = Field(ge=0)
    exclusion_error: float = Field(ge=0, le=1)
    needs_review_rate: float = Field(ge=0, le=1)


class Level(StrictModel):
    value: int = Field(ge=1)
    name: str
    description: str


class Thresholds(StrictModel):
    year: int = Field(ge=2000)
    subsistence_minimum_kzt: float = Field(gt=0)
    subsistence_minimum_source: str
    poverty_line_kzt: float = Field(gt=0)
    poverty_line_source: str


class Level6Rule(StrictModel):
    """The published level-6 examples and how they combine (`any` or `all`)."""

    min_dwellings: int = Field(ge=1)
    min_vehicles: int = Field(ge=1)
    legal_entity: bool
    min_income_subsistence_minimums: float = Field(gt=0)
    combine: Literal["any", "all"]
    source: str


class IncomeTest(StrictModel):
    source: str


class RulesConfig(StrictModel):
    level6: Level6Rule
    asp_income_test: IncomeTest


class RecommendationConfig(StrictModel):
    """Bands on the calibrated P(eligible) and what sends a case to review."""

    eligible_min_probability: float = Field(gt=0, lt=1)
    not_eligible_max_probability: float = Field(gt=0, lt=1)
    # Where P(eligible) counts as "the model says eligible" when the model is weighed against
    # the income test and the level-6 rule: strictly above the not_eligible band (a P(eligible)
    # in that band cannot also say eligible), up to the eligible band's floor inclusive.
    model_eligible_cut: float = Field(gt=0, lt=1)
    review_if_eligible_and_level_at_least: int = Field(ge=1)
    # Not eligible by declared income, yet the model's own level is this or below: review.
    # None: never (the income test alone decides such families).
    review_if_not_eligible_and_level_at_most: int | None = Field(default=None, ge=1)
    # The same review when the model's probabilities of those levels (1 up to the one above)
    # add up to at least this, whatever its most likely level. None: the most likely level alone.
    review_if_not_eligible_and_need_probability_at_least: float | None = Field(
        default=None, gt=0, le=1
    )
    # At least 1: with 0 a family with no photo at all would get no photo doubt, and could be
    # not_eligible on its record alone while the photos that could show need are missing.
    min_usable_photos: int = Field(ge=1)
    max_flagged_share: float = Field(ge=0, le=1)
    review_if_missing: list[str]
    # More missing criteria than this: review. None: never on the count alone.
    review_if_missing_more_than: int | None = Field(default=None, ge=0)
    # Eligible by declared income, yet deposits plus large purchases on record come to this
    # many years of the household's subsistence minimum: review at any level. None: never.
    review_if_eligible_and_money_years_at_least: float | None = Field(default=None, gt=0)
    top_reasons: int = Field(ge=1)
    # A fact whose reset moves the outcome's probability by less than this (0..1: 0.005 is half
    # a probability point) is no reason: near 0 % or 100 % every reset moves it by a hair, and
    # a list of such facts would only read as if they decided something.
    min_reason_points: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _check(self) -> RecommendationConfig:
        if self.not_eligible_max_probability >= self.eligible_min_probability:
            raise ValueError("not_eligible_max_probability must be below eligible_min_probability")
        low, high = self.not_eligible_max_probability, self.eligible_min_probability
        if not low < self.model_eligible_cut <= high:
            raise ValueError(
                f"model_eligible_cut {self.model_eligible_cut} must lie between "
                f"not_eligible_max_probability {low} (exclusive: a P(eligible) in the "
                f"not_eligible band cannot also say eligible) and eligible_min_probability "
                f"{high} (inclusive)"
            )
        return self


class LightGBMRecipe(StrictModel):
    # multiclass: one softmax over levels; cumulative: K-1 boosters for P(level > k).
    level_objective: Literal["multiclass", "cumulative"] = "multiclass"
    n_estimators: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    num_leaves: int = Field(ge=2)
    min_child_samples: int = Field(ge=1)
    lambda_l2: float = Field(default=0.0, ge=0)
    feature_fraction: float = Field(default=1.0, gt=0, le=1)
    bagging_fraction: float = Field(default=1.0, gt=0, le=1)


class RandomForestRecipe(StrictModel):
    n_estimators: int = Field(ge=1)
    min_samples_leaf: int = Field(ge=1)


# The fewest families a recipe may train on; `welfare train --n` below it is refused unless
# asked for (--keep-meaningless, to try the pipeline), and warned about: a model fitted on so
# few families is meaningless.
MIN_RECIPE_FAMILIES = 100


class FusionRecipe(StrictModel):
    """How fusion models are trained: features, decoding, splits, hyper-parameters."""

    default_model: str
    # What assessments use (the demo, and the model a site deploys): may differ from the
    # default_model the report evaluates while the fused model is not yet trustworthy.
    serving_model: str
    expected_rooms: list[str] = Field(min_length=1)
    context_features: list[Literal["settlement"]]
    level_decoding: Literal["argmax", "median"]
    calibration_fraction: float = Field(gt=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    n_families: int = Field(ge=MIN_RECIPE_FAMILIES)
    seed: int = Field(ge=0)  # numpy draws with it: a negative seed is refused here
    lightgbm: LightGBMRecipe
    random_forest: RandomForestRecipe

    @model_validator(mode="after")
    def _known_models(self) -> FusionRecipe:
        from welfare.fusion import list_models  # the registry imports this module

        for key in ("default_model", "serving_model"):
            if getattr(self, key) not in list_models():
                raise ValueError(
                    f"{key} must be one of {list_models()}, not {getattr(self, key)!r}"
                )
        rooms = self.expected_rooms
        twice = sorted({room for room in rooms if rooms.count(room) > 1})
        if twice:  # coverage would count the room twice
            raise ValueError(f"expected_rooms lists {', '.join(twice)} more than once")
        return self


class WelfareConfig(StrictModel):
    version: int = Field(ge=1)
    criteria: list[Criterion] = Field(min_length=1)
    regions: list[str] = Field(min_length=1)
    settlements: list[str] = Field(min_length=1)
    levels: list[Level] = Field(min_length=2)
    thresholds: Thresholds
    head_genders: list[str] = Field(min_length=1)
    disjoint_counts: list[DisjointCounts] = Field(default_factory=list)
    rules: RulesConfig
    recommendation: RecommendationConfig
    fairness: FairnessConfig
    targets: Targets
    fusion: FusionRecipe

    @model_validator(mode="after")
    def _check(self) -> WelfareConfig:
        names = [c.name for c in self.criteria]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate criteria: {duplicates}")
        values = [lv.value for lv in self.levels]
        if values != list(range(1, len(values) + 1)):
            raise ValueError(f"level values must be 1, 2, ... in order; got {values}")
        unknown = sorted(set(self.recommendation.review_if_missing) - set(names))
        if unknown:
            raise ValueError(f"recommendation.review_if_missing names unknown criteria {unknown}")
        most = self.recommendation.review_if_missing_more_than
        if most is not None and most >= len(names):
            raise ValueError(
                f"recommendation.review_if_missing_more_than {most} can never be exceeded: the "
                f"record has {len(names)} criteria; set it below {len(names)} or to null"
            )
        self._check_counts()
        from welfare.features import config_problems  # the features module imports this one

        problems = config_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _check_counts(self) -> None:
        counts = {c.name for c in self.criteria if c.kind == "count"}
        for c in self.criteria:
            wrong = sorted(set(c.within) - counts) + ([c.name] if c.name in c.within else [])
            if wrong:
                raise ValueError(f"{c.name}: `within` must name other count criteria, not {wrong}")
        for group in self.disjoint_counts:
            wrong = sorted(set([*group.counts, group.within]) - counts)
            if wrong:
                raise ValueError(f"disjoint_counts: {wrong} are not count criteria")

    def criterion(self, name: str) -> Criterion:
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def criterion_names(self) -> list[str]:
        return [c.name for c in self.criteria]

    @property
    def level_values(self) -> list[int]:
        return [lv.value for lv in self.levels]

    def digest(
        self,
        parts: Collection[str] | Mapping[str, Any] | None = None,
        *,
        also: Mapping[str, Any] | None = None,
    ) -> str:
        """sha256 of the parsed configuration, or of its top-level `parts` only (names, or a
        pydantic `include` naming fields within them), with `also` beside: what it says
        (canonical JSON, keys sorted), not its comments or layout."""
        include: Any = None
        if isinstance(parts, Mapping):
            include = dict(parts)
        elif parts is not None:
            include = set(parts)
        said = {**self.model_dump(mode="json", include=include), **(also or {})}
        canonical = json.dumps(said, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def measured_digest(self) -> str:
        """`digest` of every part a measurement depends on: all but `targets`, which only judge
        the figures, so a report can tell whether a saved measurement (real_scores.json) used
        the configuration it is merged with, and a changed target does not make it stale; nor
        `fairness.intervals`, which shape only the fairness section `welfare evaluate` draws
        itself, never a saved measurement."""
        parts: dict[str, Any] = {name: True for name in type(self).model_fields}
        del parts["targets"]
        parts["fairness"] = set(FairnessConfig.model_fields) - {"intervals"}
        return self.digest(parts)


def load_welfare_config(path: Path | None = None) -> WelfareConfig:
    return load_config(path or default_configs_dir() / "welfare.yaml", WelfareConfig)


@lru_cache(maxsize=1)
def get_welfare_config() -> WelfareConfig:
    return load_welfare_config()
