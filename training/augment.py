"""Augmentation pipelines: configs/augment/*.yaml built into albumentations 2.x, strictly.

A pipeline file names albumentations transforms and their arguments; every transform is
built with `strict=True`, so a misspelt or unknown argument is an error when the pipeline is
built. The registry is the folder: a pipeline's name is its file name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, SerializerFunctionWrapHandler, ValidationError, model_serializer

from shanyraq.config import StrictModel, default_configs_dir, load_config
from shanyraq.errors import ConfigError

# albumentations asks PyPI for a newer version when imported unless this variable reads "1" or
# "true" (an empty or any other value still asks): nothing here reaches the network.
if os.environ.get("NO_ALBUMENTATIONS_UPDATE", "").lower() not in {"1", "true"}:
    os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"

NO_AUGMENT = "none"
# How PhotoAugment.set_seed (and training.data, seeding each drawn example) turn a seed into
# draws. Raise it with any code change that makes the same pipeline file and seed give other
# pixels: the pipeline's recorded sha256 (training.run_folder.augmentation_record) then
# changes, and a resume refuses a checkpoint trained under the old scheme instead of silently
# going on with other augmentations. The first scheme is left out of what a pipeline records:
# records (and checkpoints) from before this constant existed match it, and still resume.
SEEDING_SCHEME = 1
_FIRST_SEEDING_SCHEME = 1
# The photos each transform is tried on when built: two shapes, neither square, so that a
# crop or resize to a fixed size cannot happen to give one of them back unchanged.
_PROBE_SHAPES = ((32, 48, 3), (40, 24, 3))


class TransformSpec(StrictModel):
    """One albumentations transform; `transforms` holds the children of OneOf / SomeOf."""

    name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    params: dict[str, Any] = Field(default_factory=dict)
    transforms: list[TransformSpec] | None = None


class PipelineConfig(StrictModel):
    name: str
    description: str = ""
    transforms: list[TransformSpec]

    @model_serializer(mode="wrap")
    def _with_seeding_scheme(self, handler: SerializerFunctionWrapHandler) -> Any:
        """The file's contents as recorded, with the code's SEEDING_SCHEME beside them after
        the first: what a recorded pipeline's sha256 covers (never set from the YAML)."""
        data = handler(self)
        if SEEDING_SCHEME != _FIRST_SEEDING_SCHEME and isinstance(data, dict):
            data["seeding_scheme"] = SEEDING_SCHEME
        return data


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
    if not config.transforms:
        raise ConfigError(f"{path}: 'transforms' is empty; list at least one, or use augment: none")
    if config.name != name:
        raise ConfigError(f"{path}: 'name' is '{config.name}', expected the file name '{name}'")
    return config


def _build(spec: TransformSpec, *, source: str) -> Any:
    import albumentations as A

    cls = getattr(A, spec.name, None)
    if not isinstance(cls, type) or not issubclass(cls, A.BasicTransform | A.BaseCompose):
        raise ConfigError(f"{source}: '{spec.name}' is not an albumentations transform")
    where = f"{source}: transform {spec.name}"
    if issubclass(cls, A.BaseCompose):
        return _build_compose(cls, spec, where=where, source=source)
    if spec.transforms is not None:
        raise ConfigError(f"{where}: takes no 'transforms'; only OneOf, SomeOf and the like do")
    try:
        transform = cls(**spec.params, strict=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {_reason(exc)}") from None
    except NotImplementedError:
        raise ConfigError(f"{where}: is a base class; name a concrete transform") from None
    _check_keeps_photo(cls, spec, where=where)
    return transform


def _check_some_of(spec: TransformSpec, *, n_children: int, where: str) -> None:
    """SomeOf's `n` is how many of its children it applies: albumentations cuts an `n` above
    their count to it with a warning (without `replace`), and applies none for 0, so a typo
    would change the pipeline without an error."""
    n = spec.params.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(
            f"{where}: parameter 'n' must be a whole number of at least 1 (got {n!r})"
        )
    if n > n_children and not spec.params.get("replace", False):
        raise ConfigError(
            f"{where}: parameter 'n' is {n}, but it holds {n_children} transform(s); set 'n' "
            f"to at most {n_children}, add transforms, or set 'replace: true' to draw with "
            "repeats"
        )


def _build_compose(cls: type, spec: TransformSpec, *, where: str, source: str) -> Any:
    """OneOf / SomeOf / Sequential: albumentations checks neither their `p` nor that they
    hold something, so a typo there would silently switch a whole group off or on."""
    import albumentations as A

    if not spec.transforms:
        raise ConfigError(f"{where}: needs a non-empty 'transforms' list to pick from")
    p = spec.params.get("p", 0.5)
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise ConfigError(f"{where}: parameter 'p' must be a number from 0 to 1 (got {p!r})")
    children = [_build(child, source=source) for child in spec.transforms]
    if issubclass(cls, A.SomeOf):
        _check_some_of(spec, n_children=len(children), where=where)
    try:
        return cls(children, **spec.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {_reason(exc)}") from None


def _check_keeps_photo(cls: type, spec: TransformSpec, *, where: str) -> None:
    """Run the transform once, always applied, on a small photo: it must give back a uint8
    RGB photo of the same size (a crop or a grey single channel would break the batch, and a
    base class or a transform that needs masks or boxes fails only here, not mid-training)."""
    for shape in _PROBE_SHAPES:
        probe = np.linspace(0, 255, int(np.prod(shape))).astype(np.uint8).reshape(shape)
        try:
            always = cls(**{**spec.params, "p": 1.0}, strict=True)
            always.set_random_seed(0)
            out = np.asarray(always(image=probe)["image"])
        except Exception as exc:  # whatever it is, the pipeline cannot run on a photo alone
            raise ConfigError(
                f"{where}: cannot run on a photo alone ({type(exc).__name__}: {_first_line(exc)})"
            ) from None
        if out.shape != probe.shape or out.dtype != np.uint8:
            raise ConfigError(
                f"{where}: turns a {probe.shape} uint8 photo into {out.shape} {out.dtype}; use "
                "transforms that keep the photo's size and 3 channels (e.g. Affine, not "
                "RandomCrop)"
            )


# albumentations' strict=True names the base class, not ours; Python names no transform.
_UNKNOWN = re.compile(
    r"Argument\(s\) '(?P<strict>[^']*)' are not valid|unexpected keyword argument '(?P<py>\w+)'"
)


def _reason(exc: BaseException) -> str:
    """albumentations' complaint as one line: each bad parameter, what it wanted, what it got."""
    cause = exc.__cause__ if isinstance(exc.__cause__, ValidationError) else exc
    if isinstance(cause, ValidationError):
        problems = []
        for problem in cause.errors():
            key = str(problem["loc"][0]) if problem["loc"] else "(arguments)"
            got = problem.get("input")
            got_text = "" if isinstance(got, dict | list) else f" (got {got!r})"
            problems.append(f"parameter '{key}': {problem['msg']}{got_text}")
        return "; ".join(problems)
    if found := _UNKNOWN.search(str(exc)):
        names = found["strict"] or found["py"]
        return f"parameter(s) '{names}' are not valid here; check the spelling (albumentations 2.x)"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


class PhotoAugment:
    """A built pipeline as a function uint8 RGB -> uint8 RGB, with an explicit seed."""

    def __init__(self, config: PipelineConfig, *, seed: int = 0) -> None:
        import albumentations as A

        self._config, self._source = config, str(pipelines_dir() / f"{config.name}.yaml")
        self.name = config.name
        self.compose = A.Compose(
            [_build(t, source=self._source) for t in config.transforms], strict=True
        )
        self._tracking: Any = None  # the same pipeline carrying points too (with_points)
        self.set_seed(seed)

    def set_seed(self, seed: int) -> None:
        """Seed the pipeline, each top-level transform from its own stream.

        albumentations' own `set_random_seed` hands every transform the same seed, so
        transforms with the same probability would start their draws in step (a photo that
        is blurred would also be noised); here each gets a seed spawned from `seed`. The
        same holds inside OneOf / SomeOf: a child seeded like its group would draw its first
        parameter from the number the group drew to decide whether to apply (that number is
        under `p`, so the child's range would shrink to its `p` share); children are seeded
        apart from their group and from each other in the same way.
        """
        self._seed = seed
        _seed_compose(self.compose, seed)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.compose(image=self._checked(rgb))["image"])

    def with_points(self, rgb: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`self(rgb)` under the seed set last, and where that same draw moves `points`:
        (N, 2) x, y in pixel-index coordinates (pixel i's centre at i); a point moved out of
        the frame is kept, with coordinates outside it.

        A second Compose of the same transforms with keypoints enabled, seeded like the first:
        its photo is bit-identical to `self(rgb)`'s (tests/training/test_stream_sign_frame.py),
        so tracking changes no draw (SEEDING_SCHEME stands), and `__call__` is left as it was.
        """
        import albumentations as A

        if self._tracking is None:
            self._tracking = A.Compose(
                [_build(t, source=self._source) for t in self._config.transforms],
                keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
                strict=True,
            )
        _seed_compose(self._tracking, self._seed)
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        out = self._tracking(image=self._checked(rgb), keypoints=points)
        moved = np.asarray(out["keypoints"], dtype=np.float64).reshape(len(points), -1)[:, :2]
        return np.ascontiguousarray(out["image"]), moved

    def _checked(self, rgb: np.ndarray) -> np.ndarray:
        if not (
            isinstance(rgb, np.ndarray)
            and rgb.dtype == np.uint8
            and rgb.ndim == 3
            and rgb.shape[2] == 3
            and min(rgb.shape[:2]) > 0
        ):
            got = f"{rgb.shape} {rgb.dtype}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
            raise ValueError(
                f"augmentation '{self.name}' takes a uint8 RGB photo of shape (H, W, 3), got {got}"
            )
        return rgb


def _seed_compose(compose: Any, seed: int) -> None:
    """Seed a whole pipeline (see PhotoAugment.set_seed)."""
    compose.set_random_seed(seed)
    _seed_apart(compose.transforms, seed)


def _seed_apart(transforms: list[Any], seed: int) -> None:
    """Seed each of `transforms` from its own stream spawned from `seed`, and the children of
    a group (OneOf, SomeOf, Sequential) likewise from their group's seed."""
    import albumentations as A

    states = np.random.SeedSequence([seed, 0xA6]).generate_state(len(transforms))
    for transform, state in zip(transforms, states, strict=True):
        transform.set_random_seed(int(state))
        if isinstance(transform, A.BaseCompose):
            _seed_apart(list(transform.transforms), int(state))


def build_pipeline(name: str, *, seed: int = 0) -> PhotoAugment | None:
    """The named pipeline, or None for "none"."""
    if name == NO_AUGMENT:
        return None
    return PhotoAugment(load_pipeline_config(name), seed=seed)
