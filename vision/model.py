"""The photo classifier: a timm backbone with room, condition and signs heads, and named variants.

Variants are registered the timm way, as small functions that only set arguments; callers
name what they want (`create_model("shanyraq_mnv3_small", taxonomy=...)`). Pretrained
backbone weights come only from a local file, read here and handed to timm as
`pretrained_cfg_overlay=dict(state_dict=...)` with every remote source cleared; the
backbone's own classifier is dropped, so a checkpoint with a 1000-class head loads, but every
other backbone weight must come from the file (timm alone would skip the ones it lacks).
`model.pt` (see `save_model` / `load_model`) carries everything needed to rebuild the network
and its preprocessing, for heat maps and fine-tuning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from shanyraq.atomic import atomic_file
from shanyraq.errors import ConfigError, ModelMismatchError
from shanyraq.taxonomy import Taxonomy
from vision.artifact import Preprocessing

logger = logging.getLogger(__name__)

ConditionFormulation = Literal["coral", "softmax"]
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class VariantSpec:
    """What a named variant fixes: the timm backbone, its default input size and dropout."""

    backbone: str
    input_size: int
    drop_rate: float = 0.0
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)


_VARIANTS: dict[str, Callable[[], VariantSpec]] = {}


def register_variant(fn: Callable[[], VariantSpec]) -> Callable[[], VariantSpec]:
    _VARIANTS[fn.__name__] = fn
    return fn


def list_variants() -> list[str]:
    return sorted(_VARIANTS)


def get_variant(name: str) -> VariantSpec:
    try:
        return _VARIANTS[name]()
    except KeyError:
        raise ConfigError(f"unknown model variant '{name}'; known: {list_variants()}") from None


@register_variant
def shanyraq_test() -> VariantSpec:
    """Tiny (0.1 M parameters) for tests; learns little, runs in milliseconds."""
    return VariantSpec(backbone="test_efficientnet", input_size=32)


@register_variant
def shanyraq_mnv3_small() -> VariantSpec:
    """The CPU demo model: MobileNetV3-Small, 1.5 M parameters."""
    return VariantSpec(backbone="mobilenetv3_small_100", input_size=96, drop_rate=0.1)


@register_variant
def shanyraq_mnv3_large() -> VariantSpec:
    return VariantSpec(backbone="mobilenetv3_large_100", input_size=224, drop_rate=0.2)


@register_variant
def shanyraq_effb0() -> VariantSpec:
    return VariantSpec(backbone="efficientnet_b0", input_size=224, drop_rate=0.2)


@register_variant
def shanyraq_convnext_tiny() -> VariantSpec:
    return VariantSpec(backbone="convnext_tiny", input_size=224, drop_rate=0.1)


class ModelOutput(NamedTuple):
    """Raw head outputs for a batch; logits before temperature and activation."""

    room: torch.Tensor  # (N, R)
    condition: torch.Tensor  # (N, K-1) for coral, (N, K) for softmax
    signs: torch.Tensor  # (N, S)
    embedding: torch.Tensor  # (N, D)


class CoralHead(nn.Module):
    """CORAL: one shared weight vector, K-1 ordered biases; logit k scores P(grade > k+1).

    Sharing the weights makes the cumulative probabilities rank-consistent by construction.
    """

    def __init__(self, in_features: int, num_grades: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, 1, bias=False)
        # Start at evenly spaced, decreasing thresholds so every grade is reachable at step 0.
        self.bias = nn.Parameter(torch.linspace(1.0, -1.0, num_grades - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + self.bias


class ShanyraqNet(nn.Module):
    """Backbone (timm, `num_classes=0`, so it returns pooled features) plus three heads."""

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_rooms: int,
        num_grades: int,
        num_signs: int,
        condition_formulation: ConditionFormulation,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        width: Any = getattr(backbone, "head_hidden_size", None) or backbone.num_features
        self.embedding_dim = int(width)
        self.condition_formulation = condition_formulation
        self.dropout = nn.Dropout(drop_rate)
        self.room_head = nn.Linear(self.embedding_dim, num_rooms)
        self.condition_head: nn.Module = (
            CoralHead(self.embedding_dim, num_grades)
            if condition_formulation == "coral"
            else nn.Linear(self.embedding_dim, num_grades)
        )
        self.signs_head = nn.Linear(self.embedding_dim, num_signs)

    def forward(self, pixels: torch.Tensor) -> ModelOutput:
        embedding = self.backbone(pixels)
        features = self.dropout(embedding)
        return ModelOutput(
            room=self.room_head(features),
            condition=self.condition_head(features),
            signs=self.signs_head(features),
            embedding=embedding,
        )


def _create_backbone(spec: VariantSpec, pretrained_file: Path | None) -> nn.Module:
    import timm

    kwargs: dict[str, Any] = dict(spec.backbone_kwargs)
    if pretrained_file is None:
        return timm.create_model(spec.backbone, pretrained=False, num_classes=0, **kwargs)
    checkpoint = _read_pretrained(pretrained_file)
    # The weights as read, with the file as fallback and no url or hub id: whatever timm
    # resolves, it never downloads. An empty state_dict would fall through to the next source.
    kwargs["pretrained_cfg_overlay"] = dict(
        state_dict=checkpoint, file=str(pretrained_file), url=None, hf_hub_id=None
    )
    logger.info("loading backbone weights from %s", pretrained_file)
    try:  # timm drops the file's classifier because num_classes (0) differs from its cfg
        backbone: Any = timm.create_model(spec.backbone, pretrained=True, num_classes=0, **kwargs)
    except (RuntimeError, KeyError, ValueError) as exc:  # size mismatches, timm's key remaps
        lines = str(exc).strip().splitlines()
        more = f" ... ({len(lines) - 3} more lines)" if len(lines) > 3 else ""
        reason = " ".join(line.strip() for line in lines[:3]) + more
        raise ConfigError(
            f"pretrained weights file {pretrained_file} does not fit backbone {spec.backbone}: "
            f"{type(exc).__name__}: {reason}"
        ) from None
    backbone.pretrained_cfg.pop("state_dict", None)  # a copy of every weight, kept otherwise
    _check_all_loaded(backbone, checkpoint, pretrained_file, spec.backbone)
    return backbone


def _read_pretrained(path: Path) -> dict[str, torch.Tensor]:
    """The file's tensors, as timm reads a checkpoint: a plain state dict or one under
    `state_dict`/`model` (or their EMA), `module.` prefixes dropped; ConfigError otherwise."""
    from timm.models import load_state_dict

    if not path.is_file():
        raise ConfigError(
            f"pretrained weights file {path} not found; give a local file "
            "(nothing is downloaded) or leave `pretrained_file` empty to train from scratch"
        )
    try:
        state = load_state_dict(str(path))
    except Exception as exc:  # torch's unpickler and safetensors raise anything for bad bytes
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(
            f"pretrained weights file {path} cannot be read as a PyTorch or safetensors "
            f"checkpoint ({type(exc).__name__}{': ' + first if first else ''}); give a state "
            "dict saved with torch.save or safetensors, complete and not truncated"
        ) from None
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        keys = ", ".join(repr(k) for k in list(state)[:5]) or "none"
        raise ConfigError(
            f"pretrained weights file {path} holds no weight tensors at its top level (keys: "
            f"{keys}); give a state dict, plain or under `state_dict` or `model`"
        )
    return tensors


def _check_all_loaded(
    backbone: nn.Module, checkpoint: dict[str, torch.Tensor], path: Path, name: str
) -> None:
    """ConfigError unless every backbone parameter holds a tensor of the file.

    timm loads non-strictly once it drops the classifier, so a checkpoint under other names
    (another wrapper or prefix, a Shanyraq model.pt, another architecture) would load nothing
    and train from scratch unannounced. A parameter counts as loaded when it equals the file's
    tensor of its name, or any of its tensors of the same size (timm's filters rename and
    reshape some architectures' original checkpoints).
    """
    by_size: dict[int, list[torch.Tensor]] = {}
    for tensor in checkpoint.values():
        by_size.setdefault(tensor.numel(), []).append(tensor)

    def loaded(key: str, param: torch.Tensor) -> bool:
        own = checkpoint.get(key)
        candidates = [own] if own is not None and own.numel() == param.numel() else []
        candidates += by_size.get(param.numel(), [])
        return any(torch.equal(t.reshape(param.shape).to(param.dtype), param) for t in candidates)

    with torch.no_grad():
        params = list(backbone.named_parameters())
        missing = [key for key, param in params if not loaded(key, param)]
    if missing:
        theirs = ", ".join(list(checkpoint)[:3])
        raise ConfigError(
            f"pretrained weights file {path} does not fit backbone {name}: at least "
            f"{len(missing)} of {len(params)} weights are not in it (first: "
            f"{', '.join(missing[:3])}; the file's keys begin {theirs}); give weights of "
            f"{name}, a state dict plain or under "
            "`state_dict` or `model` (a Shanyraq model.pt is not one)"
        )


def create_model(
    variant: str,
    *,
    taxonomy: Taxonomy,
    condition_formulation: ConditionFormulation = "coral",
    pretrained_file: Path | None = None,
    drop_rate: float | None = None,
) -> ShanyraqNet:
    """Build a named variant with heads sized from the taxonomy."""
    spec = get_variant(variant)
    grades = taxonomy.head_size("condition")
    return ShanyraqNet(
        _create_backbone(spec, pretrained_file),
        num_rooms=taxonomy.head_size("room"),
        num_grades=grades,
        num_signs=taxonomy.head_size("signs"),
        condition_formulation=condition_formulation,
        drop_rate=spec.drop_rate if drop_rate is None else drop_rate,
    )


def model_preprocessing(model: ShanyraqNet, *, size: int) -> Preprocessing:
    """Mean, std and interpolation from the backbone's own data config; size from the recipe."""
    import timm.data

    data_config = timm.data.resolve_model_data_config(model.backbone)
    interpolation = data_config.get("interpolation", "bilinear")
    return Preprocessing(
        size=size,
        mean=tuple(data_config["mean"]),
        std=tuple(data_config["std"]),
        resize="squash",  # a room photo is evidence edge to edge; cropping would drop signs
        interpolation=interpolation if interpolation in ("bilinear", "bicubic") else "bilinear",
    )


def save_model(
    model: ShanyraqNet, path: Path, *, variant: str, preprocessing: Preprocessing
) -> Path:
    """Write model.pt: a plain dict (tensors, strings, numbers) readable with weights_only."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "variant": variant,
        "condition_formulation": model.condition_formulation,
        "heads": {
            "room": model.room_head.out_features,
            "condition": _num_grades(model),
            "signs": model.signs_head.out_features,
        },
        "preprocessing": preprocessing.model_dump(mode="json"),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_file(path) as tmp:
        torch.save(state, tmp)
    return path


def _num_grades(model: ShanyraqNet) -> int:
    head = model.condition_head
    if isinstance(head, CoralHead):
        return int(head.bias.numel()) + 1
    assert isinstance(head, nn.Linear)
    return int(head.out_features)


def load_model(path: Path) -> tuple[ShanyraqNet, Preprocessing]:
    """Rebuild the network from model.pt (a file, or an artifact folder holding one)."""
    import timm

    if path.is_dir():
        path = path / "model.pt"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelMismatchError(f"{path} not found; export the model first") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ModelMismatchError(f"{path} is not a Shanyraq model.pt (format {CHECKPOINT_FORMAT})")
    spec = get_variant(state["variant"])
    heads = state["heads"]
    model = ShanyraqNet(
        timm.create_model(spec.backbone, pretrained=False, num_classes=0, **spec.backbone_kwargs),
        num_rooms=heads["room"],
        num_grades=heads["condition"],
        num_signs=heads["signs"],
        condition_formulation=state["condition_formulation"],
        drop_rate=spec.drop_rate,
    )
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model, Preprocessing.model_validate(state["preprocessing"])
