"""configs/synth.yaml as typed objects: the generator's rates, ranges and artefact levels."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path

from pydantic import ConfigDict, Field, model_validator

from shanyraq.config import StrictModel, default_configs_dir, load_config
from shanyraq.taxonomy import Taxonomy

Range = tuple[float, float]


def _check_range(name: str, value: Range) -> None:
    if value[0] > value[1]:
        raise ValueError(f"{name}: lower bound {value[0]} is above upper bound {value[1]}")


def _table_problems(
    name: str, weights: Mapping[str, float], known: Collection[str], *, positive: bool = True
) -> list[str]:
    """A table of draw weights or rates: every name in `known` given, none negative, and (with
    `positive`) one above 0. Otherwise a name is silently never drawn, or the draw fails."""
    problems = []
    missing = sorted(set(known) - set(weights))
    if missing:
        problems.append(f"{name}: missing {missing}; give each a value (0 never draws it)")
    problems += [
        f"{name}.{key}: {value} is negative; a weight or rate is 0 or more"
        for key, value in weights.items()
        if value < 0
    ]
    if positive and not any(value > 0 for value in weights.values()):
        problems.append(f"{name}: no weight is above 0; give at least one a positive weight")
    return problems


class _SynthModel(StrictModel):
    """StrictModel that also refuses NaN and infinity: every figure here feeds a draw."""

    model_config = ConfigDict(allow_inf_nan=False)


class PhotoSettings(_SynthModel):
    room_weights: dict[str, float]
    photos_per_home: int = Field(ge=1)
    n_styles: int = Field(ge=12)
    split_fractions: tuple[float, float, float]
    jpeg_quality: tuple[int, int]
    workers: int = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> PhotoSettings:
        # Every room's presence is checked against the taxonomy in check_against.
        problems = _table_problems("room_weights", self.room_weights, ())
        if any(f < 0 for f in self.split_fractions) or sum(self.split_fractions) <= 0:
            problems.append(
                "split_fractions: train, val and test shares are 0 or more, one above 0"
            )
        low, high = self.jpeg_quality
        if low > high:
            problems.append(f"jpeg_quality: lower bound {low} is above upper bound {high}")
        elif not 0 <= low <= high <= 100:  # OpenCV would clamp it without a word
            problems.append(f"jpeg_quality: give [low, high] within 0..100, got [{low}, {high}]")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class NotDwellingSettings(_SynthModel):
    kind_weights: dict[str, float]
    skimage_images: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> NotDwellingSettings:
        known = {"package_photo", "document", "screen", "blank_frame"}
        unknown = set(self.kind_weights) - known
        if unknown:
            raise ValueError(f"unknown not_dwelling kinds {sorted(unknown)}; use {sorted(known)}")
        problems = _table_problems("kind_weights", self.kind_weights, known)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SignRate(_SynthModel):
    intercept: float
    welfare_slope: float
    rooms: list[str] = Field(min_length=1)


class ConditionRule(_SynthModel):
    base: float
    wear_weight: float = Field(ge=0)
    noise_sd: float = Field(ge=0)
    wear_mean_poor: float = Field(gt=0, lt=1)
    wear_mean_rich: float = Field(gt=0, lt=1)
    wear_concentration: float = Field(gt=0)
    sign_weights: dict[str, float]


class DistractorSettings(_SynthModel):
    rate: float = Field(ge=0, le=1)


class CameraSettings(_SynthModel):
    back_wall_width: Range
    back_wall_height: Range
    shift: Range
    roll_degrees: Range
    exposure: Range
    colour_temperature: Range
    vignette: Range
    noise_sd: Range
    blur_rate: float = Field(ge=0, le=1)
    blur_sigma: Range

    @model_validator(mode="after")
    def _check(self) -> CameraSettings:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, tuple):
                _check_range(name, value)
        # Shares of the image, a gain and spreads: outside these the draw crashes (a zero
        # back wall divides by zero, a zero blur sigma fails in OpenCV) or means nothing.
        share = "a share of the image: above 0, up to 1"
        width, height = self.back_wall_width, self.back_wall_height
        for name, value, ok, rule in (
            ("back_wall_width", width, 0 < width[0] <= width[1] <= 1, share),
            ("back_wall_height", height, 0 < height[0] <= height[1] <= 1, share),
            ("exposure", self.exposure, self.exposure[0] > 0, "a gain: above 0"),
            ("noise_sd", self.noise_sd, self.noise_sd[0] >= 0, "a standard deviation: 0 or more"),
            ("blur_sigma", self.blur_sigma, self.blur_sigma[0] > 0, "a blur sigma: above 0"),
        ):
            if not ok:
                raise ValueError(f"{name}: {list(value)} is out of range; it is {rule}")
        return self


_CASES = ("hidden_income", "poor_decent_rental", "missing_photos", "rural_solid_fuel")
_UNUSABLE_REASONS = ("blurred", "too_dark", "overexposed", "not_a_home")


class FamilySettings(_SynthModel):
    level_weights: list[float] = Field(min_length=2)
    photos_per_family: tuple[int, int]
    case_rates: dict[str, float]
    case_levels: dict[str, tuple[int, int]]
    decent_rental_home_welfare: Range
    rural_stove_extra_logit: float
    missing_photos_count: tuple[int, int]
    missing_photos_unusable_rate: float = Field(ge=0, le=1)
    unusable_reasons: dict[str, float]
    rural_rate: float = Field(ge=0, le=1)
    female_head_rate: float = Field(ge=0, le=1)
    missing_criterion_rate: float = Field(ge=0, le=1)
    unusable_photo_rate: float = Field(ge=0, le=1)
    income_multiples: list[float] = Field(min_length=2)
    income_log_sd: float = Field(ge=0)
    home_welfare_sd: float = Field(ge=0)
    hidden_income_reported_poverty_multiple: Range

    @model_validator(mode="after")
    def _check(self) -> FamilySettings:
        known = set(_CASES)
        unknown = set(self.case_rates) - known
        if unknown:
            raise ValueError(f"unknown family cases {sorted(unknown)}; use {sorted(known)}")
        unknown = set(self.case_levels) - known
        if unknown:
            raise ValueError(f"case_levels: unknown cases {sorted(unknown)}")
        if set(self.unusable_reasons) - set(_UNUSABLE_REASONS):
            raise ValueError(f"unusable_reasons: use only {sorted(_UNUSABLE_REASONS)}")
        if sum(self.case_rates.values()) > 1:
            raise ValueError("case_rates add up to more than 1")
        if len(self.income_multiples) != len(self.level_weights):
            raise ValueError("income_multiples needs one value per level in level_weights")
        problems = self._range_problems() + self._weight_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _range_problems(self) -> list[str]:
        """Ranges the generator draws from: ordered, and within what each one means."""
        problems = []
        ranges: dict[str, Range] = {
            "photos_per_family": self.photos_per_family,
            "missing_photos_count": self.missing_photos_count,
            "decent_rental_home_welfare": self.decent_rental_home_welfare,
            "hidden_income_reported_poverty_multiple": self.hidden_income_reported_poverty_multiple,
        }
        for name, (low, high) in ranges.items():
            if low > high:
                problems.append(f"{name}: lower bound {low} is above upper bound {high}")
        for name in ("photos_per_family", "missing_photos_count"):
            if ranges[name][0] < 0:
                problems.append(f"{name}: a photo count cannot be negative; use 0 or more")
        if self.photos_per_family[0] < 1:
            problems.append(
                "photos_per_family: a typical family has at least 1 photo; families with "
                "none are the missing_photos case (missing_photos_count)"
            )
        low, high = self.decent_rental_home_welfare
        if not 0 <= low <= high <= 1:
            problems.append("decent_rental_home_welfare: home welfare is 0..1; give a range in it")
        if self.hidden_income_reported_poverty_multiple[0] < 0:
            problems.append("hidden_income_reported_poverty_multiple: an income cannot be negative")
        levels = len(self.level_weights)
        for case, (low, high) in self.case_levels.items():
            if not 1 <= low <= high <= levels:
                problems.append(
                    f"case_levels.{case}: [{low}, {high}] is not a range of levels 1..{levels}; "
                    "give [low, high] within them"
                )
        return problems

    def _weight_problems(self) -> list[str]:
        problems = _table_problems("case_rates", self.case_rates, _CASES, positive=False)
        problems += _table_problems("unusable_reasons", self.unusable_reasons, _UNUSABLE_REASONS)
        if any(w < 0 for w in self.level_weights):
            problems.append("level_weights: a weight or rate cannot be negative; use 0 or more")
        if sum(self.level_weights) <= 0:
            problems.append("level_weights: give at least one level a positive weight")
        if any(m <= 0 for m in self.income_multiples):
            problems.append("income_multiples: each level's multiple must be above 0")
        return problems


class SynthConfig(_SynthModel):
    version: int = Field(ge=1)
    photos: PhotoSettings
    not_dwelling: NotDwellingSettings
    signs: dict[str, SignRate]
    condition: ConditionRule
    distractors: DistractorSettings
    camera: CameraSettings
    families: FamilySettings

    def check_against(self, taxonomy: Taxonomy) -> SynthConfig:
        """Every room and sign named here must exist in the taxonomy, and every sign be rated."""
        problems: list[str] = []
        rooms = set(taxonomy.room_names)
        signs = set(taxonomy.sign_names)
        problems += [
            f"photos.room_weights: unknown room {r!r}"
            for r in self.photos.room_weights
            if r not in rooms
        ]
        missing_rooms = sorted(rooms - set(self.photos.room_weights))
        if missing_rooms:
            problems.append(
                f"photos.room_weights: missing {missing_rooms}; "
                "give each a value (0 never draws it)"
            )
        if set(self.signs) != signs:
            problems.append(f"signs: must rate exactly {sorted(signs)}, got {sorted(self.signs)}")
        for name, rate in self.signs.items():
            problems += [
                f"signs.{name}.rooms: unknown room {r!r}"
                for r in rate.rooms
                if r not in taxonomy.dwelling_rooms
            ]
        missing = signs - set(self.condition.sign_weights)
        if missing:
            problems.append(f"condition.sign_weights: missing {sorted(missing)}")
        if problems:
            from shanyraq.errors import ConfigError

            raise ConfigError(
                "configs/synth.yaml does not match the taxonomy:\n  " + "\n  ".join(problems)
            )
        return self


def load_synth_config(path: Path | None = None) -> SynthConfig:
    return load_config(path or default_configs_dir() / "synth.yaml", SynthConfig)


@lru_cache(maxsize=1)
def get_synth_config() -> SynthConfig:
    """The installation's synth config, read once and checked against the taxonomy."""
    from shanyraq.taxonomy import get_taxonomy

    return load_synth_config().check_against(get_taxonomy())
