"""Augmentation pipelines: configs/augment/*.yaml built into albumentations 2.x, strictly.

A pipeline file names albumentations transforms and their arguments; every transform is
built with `strict=True`, so a misspelt or unknown argument is an error when the pipeline is
built. The registry is the folder: a pipeline's name is its file name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from shanyraq.config import StrictModel, default_configs_dir, load_config
from shanyraq.errors import ConfigError

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

NO_AUGMENT = "none"


class TransformSpec(StrictModel):
    """One albumentations transform; `transforms` holds the children of OneOf / SomeOf."""

    name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    params: dict[str, Any] = Field(default_factory=dict)
    transforms: list[TransformSpec] | None = None


class PipelineConfig(StrictModel):
    name: str
    description: str = ""
    transforms: list[TransformSpec]


def pipelines_dir() -> Path:
    return default_configs_dir() / "augment"


def list_pipelines() -> list[str]:
    """Registered pipelines: one per YAML file in configs/augment, plus "none"."""
    return sorted([p.stem for p in pipelines_dir().glob("*.yaml")] + [NO_AUGMENT])


def load_pipeline_config(name: str) -> PipelineConfig:
    path = pipelines_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown augmentation pipeline '{name}'; known: {list_pipelines()}")
    config = load_config(path, PipelineConfig)
    if config.name != name:
        raise ConfigError(f"{path}: 'name' is '{config.name}', expected the file name '{name}'")
    return config


def _build(spec: TransformSpec, *, source: str) -> Any:
    import albumentations as A

    cls = getattr(A, spec.name, None)
    if not isinstance(cls, type) or not issubclass(cls, A.BasicTransform | A.BaseCompose):
        raise ConfigError(f"{source}: '{spec.name}' is not an albumentations transform")
    try:
        if spec.transforms is not None:
            children = [_build(child, source=source) for child in spec.transforms]
            return cls(children, **spec.params)
        return cls(**spec.params, strict=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: transform {spec.name}: {exc}") from None


class PhotoAugment:
    """A built pipeline as a function uint8 RGB -> uint8 RGB, with an explicit seed."""

    def __init__(self, config: PipelineConfig, *, seed: int = 0) -> None:
        import albumentations as A

        source = str(pipelines_dir() / f"{config.name}.yaml")
        self.name = config.name
        self.compose = A.Compose([_build(t, source=source) for t in config.transforms], strict=True)
        self.set_seed(seed)

    def set_seed(self, seed: int) -> None:
        """Seed the pipeline, each top-level transform from its own stream.

        albumentations' own `set_random_seed` hands every transform the same seed, so
        transforms with the same probability would start their draws in step (a photo that
        is blurred would also be noised); here each gets a seed spawned from `seed`.
        """
        self.compose.set_random_seed(seed)
        children = np.random.SeedSequence([seed, 0xA6]).generate_state(len(self.compose.transforms))
        for transform, child in zip(self.compose.transforms, children, strict=True):
            transform.set_random_seed(int(child))

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.compose(image=rgb)["image"])


def build_pipeline(name: str, *, seed: int = 0) -> PhotoAugment | None:
    """The named pipeline, or None for "none"."""
    if name == NO_AUGMENT:
        return None
    return PhotoAugment(load_pipeline_config(name), seed=seed)
