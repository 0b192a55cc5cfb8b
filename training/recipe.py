"""A training recipe (configs/train/*.yaml) as a typed, validated object, parsed once."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from shanyraq.config import StrictModel, load_config
from vision.model import ConditionFormulation


class SyntheticData(StrictModel):
    """Generate the manifest with training.synth when it does not exist yet."""

    n_photos: int = Field(gt=0)
    seed: int = Field(0, ge=0)  # numpy's generators take no negative seed
    size: int = Field(128, gt=0, description="Side of the rendered photos, in pixels.")


class SyntheticStreamData(StrictModel):
    """Train on photos rendered on the fly (training/synth/stream.py), a fresh one per example.

    Replaces the manifest's train split; validation and test photos still come from the
    manifest. The seed must differ from the manifest's synthetic seed.
    """

    seed: int = Field(ge=0)
    photos_per_epoch: int = Field(gt=0)
    size: int = Field(128, gt=0, description="Side of the rendered photos, in pixels.")
    new_photos_each_epoch: bool = Field(
        True,
        description="False: every epoch renders the same photos again (augmented anew), as "
        "a stored set of photos_per_epoch photos would be seen, without storing it.",
    )


class DataSection(StrictModel):
    manifest: Path
    synthetic: SyntheticData | None = None
    stream: SyntheticStreamData | None = None
    # Photos of these visual styles (manifest column `style`) are kept out of training and
    # validation and measured apart, as the "held-out style" evaluation.
    held_out_styles: list[int] = Field(default_factory=list)


class ModelSection(StrictModel):
    variant: str
    condition_formulation: ConditionFormulation = "coral"
    input_size: int | None = Field(None, gt=0, description="Default: the variant's own.")
    pretrained_file: Path | None = None
    drop_rate: float | None = Field(None, ge=0, lt=1)


class EarlyStopping(StrictModel):
    patience: int = Field(3, ge=1, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.001, ge=0)


class HeadWeights(StrictModel):
    """Weight of each head's loss in the sum (the signs loss is a mean over its signs)."""

    room: float = Field(1.0, ge=0)
    condition: float = Field(1.0, ge=0)
    signs: float = Field(1.0, ge=0)


class OptimSection(StrictModel):
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    accumulation_steps: int = Field(1, ge=1)
    lr: float = Field(gt=0)
    weight_decay: float = Field(0.05, ge=0)
    warmup_epochs: float = Field(1.0, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    ordinal_weight: float = Field(1.0, ge=0)
    head_weights: HeadWeights = HeadWeights()
    class_balance: Literal["none", "weights", "sampler"] = "weights"
    ema_decay: float | None = Field(None, gt=0, lt=1)
    early_stopping: EarlyStopping | None = None
    grad_clip_norm: float | None = Field(None, gt=0)


class LoaderSection(StrictModel):
    num_workers: int = Field(0, ge=0)
    cache: bool = Field(True, description="Decode each photo once and keep it at model size.")
    eval_batch_size: int = Field(64, gt=0)
    compute_threads: int | None = Field(
        None, gt=0, description="torch threads for the model (default: torch's own choice)."
    )


class CalibrationSection(StrictModel):
    """Post-hoc calibration on the validation split (training/calibrate.py)."""

    bias_heads: tuple[Literal["room", "condition"], ...] = Field(
        ("room", "condition"),
        description="Heads that get an offset per output beside the temperature.",
    )
    bias_l2: float = Field(1e-3, ge=0, description="Ridge penalty on the offsets.")
    min_examples_per_class: int = Field(
        20,
        ge=1,
        description="Labelled validation photos a class needs for its offset (a CORAL threshold: "
        "each grade beside it); other offsets stay 0, and a head with none gets a temperature "
        "alone.",
    )


class QualityTargets(StrictModel):
    """What the model should reach on held-out families (issue targets); reported, not enforced."""

    room_macro_f1: float = 0.97
    condition_qwk: float = 0.92
    signs_map: float = 0.92
    not_dwelling_recall: float = 0.98
    ece_max: float = 0.03
    held_out_style_max_drop: float = Field(
        0.05, description="Largest drop of a headline metric on the held-out style."
    )


class TrainConfig(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    seed: int = Field(0, ge=0)
    data: DataSection
    model: ModelSection
    optim: OptimSection
    loader: LoaderSection = LoaderSection()
    augment: str = "phone"
    calibration: CalibrationSection = CalibrationSection()
    output_dir: Path
    device: Literal["auto", "cpu", "cuda"] = "auto"
    targets: QualityTargets = QualityTargets()
    model_card: Path | None = Field(None, description="Also write the model card here.")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.optim.batch_size % self.optim.accumulation_steps:
            raise ValueError("optim.batch_size must be a multiple of optim.accumulation_steps")
        stream, synthetic = self.data.stream, self.data.synthetic
        if stream is not None:
            if synthetic is not None and stream.seed == synthetic.seed:
                raise ValueError(
                    "data.stream.seed must differ from data.synthetic.seed: the training "
                    "stream would otherwise share photo seeds with the validation and test photos"
                )
            if self.optim.class_balance == "sampler":
                raise ValueError(
                    "optim.class_balance 'sampler' cannot draw from a stream of fresh photos; "
                    "use 'weights'"
                )
        return self

    def with_paths(self, *, manifest: Path | None = None, output_dir: Path | None = None):
        """A copy with the data manifest and/or output folder moved (tests, other machines)."""
        data = self.data.model_copy(update={"manifest": manifest or self.data.manifest})
        return self.model_copy(update={"data": data, "output_dir": output_dir or self.output_dir})


def load_recipe(path: Path) -> TrainConfig:
    return load_config(path, TrainConfig)


# Recipe keys (dotted; a section covers its keys) that may differ when a run is resumed. They
# decide where and how fast the run trains, or what is done after training, not what is trained:
# - loader.*, device: the same batches in the same order. A loader worker, the photo cache and
#   the evaluation batch size left a resumed tiny run bit-identical to an uninterrupted one;
#   torch threads and another device change float rounding only, as moving a run to another
#   machine does.
# - output_dir, data.manifest: where the run folder and the manifest are. The manifest's
#   contents are checked apart, by the training-data hash the checkpoint records.
# - calibration.*, targets.*, model_card: read after training, on the final model.
# Not optim.epochs, raised or lowered: the cosine schedule's length is steps per epoch x
# epochs, and a resumed LambdaLR computes its factor from the length it is built with, so the
# steps already taken followed the old curve and the next ones would follow the new one: after
# a finished 2-epoch run raised to 4, the learning rate would jump from near zero to half its
# peak (a warm restart), a schedule the recipe in run.json would not describe. A longer run
# starts afresh.
RESUMABLE_KEYS = ("loader", "device", "output_dir", "data.manifest", "calibration", "targets",
                  "model_card")  # fmt: skip
# Files that may move on resume, though not appear or go. model.pretrained_file: its weights
# only start epoch 0, and a resume replaces them with the checkpoint's, so where the file lies
# now does not change what is trained (its contents are not compared: a checkpoint records no
# hash of them). Whether the run started from pretrained weights does: run.json's recipe says so.
MOVABLE_FILES = ("model.pretrained_file",)

ABSENT = "(absent)"


def recipe_changes(
    old: dict[str, Any], new: dict[str, Any], prefix: str = ""
) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (old value, new value) for every leaf that differs between two dumps."""
    changes: dict[str, tuple[Any, Any]] = {}
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key, ABSENT), new.get(key, ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            changes.update(recipe_changes(a, b, f"{prefix}{key}."))
        elif a != b:
            changes[f"{prefix}{key}"] = (a, b)
    return changes


def changes_on_resume(saved: dict[str, Any], config: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """The keys of `config` that differ from `saved` (a checkpoint's recipe dump) and may not
    change on resume, each with (saved value, new value)."""
    # Through the schema, so keys added since the save compare at their defaults; keys the
    # schema has since dropped or renamed fail it, and then show as differences.
    with contextlib.suppress(ValidationError):
        saved = TrainConfig.model_validate(saved).model_dump(mode="json")
    changes = recipe_changes(saved, config.model_dump(mode="json"))
    return {
        key: values
        for key, values in changes.items()
        if not any(key == k or key.startswith(f"{k}.") for k in RESUMABLE_KEYS)
        and not (key in MOVABLE_FILES and None not in values)
    }
