"""Configuration: YAML files in configs/ parsed once into typed objects, plus env settings."""

from __future__ import annotations

import copy
import difflib
import os
import types
from collections.abc import Collection, Hashable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shanyraq.errors import ConfigError, read_text

ModelT = TypeVar("ModelT", bound=BaseModel)

_DEFAULT_CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"

ENV_PREFIX = "SHANYRAQ_"
# The variables under ENV_PREFIX that Shanyraq reads itself, apart from a settings class that
# `check_env_names` is given: valid, though no field names them. A variable read anywhere
# else under the prefix goes here too, or it is refused as a misspelt setting.
OWN_ENV_NAMES = frozenset(
    {
        "SHANYRAQ_CONFIGS_DIR",  # default_configs_dir(), before any settings are read
        "SHANYRAQ_DEBUG",  # shanyraq/cli.py: the traceback behind an error line
        "SHANYRAQ_LABEL_STUDIO_URL",  # annotation/settings.py, LabelStudioEnv
        "SHANYRAQ_LABEL_STUDIO_TOKEN",  # the same
    }
)
# Those of OWN_ENV_NAMES read with os.environ by their exact name (case-sensitive on POSIX);
# the rest are read by pydantic-settings, which ignores case.
EXACT_CASE_ENV_NAMES = frozenset({"SHANYRAQ_CONFIGS_DIR", "SHANYRAQ_DEBUG"})
# The service's variables (serving/core/config.py): checked when its settings load, which
# know them; a command without the service leaves them, and their misspellings, to it.
SERVING_ENV_PREFIX = "SHANYRAQ_SERVING"


def default_configs_dir() -> Path:
    """The configs/ folder: $SHANYRAQ_CONFIGS_DIR, else the one beside the code."""
    return Path(os.environ.get("SHANYRAQ_CONFIGS_DIR", _DEFAULT_CONFIGS_DIR))


class StrictModel(BaseModel):
    """Base for config objects: unknown keys are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: file, key and what was expected."""
    lines = [f"{source}: invalid configuration"]
    for problem in error.errors():
        key = _key_path(tuple(problem["loc"]))
        got = problem.get("input")
        got_text = "" if isinstance(got, dict | list) else f" (got {got!r})"
        lines.append(f"  key '{key}': {problem['msg']}{got_text}")
    return "\n".join(lines)


_MERGE_TAG = "tag:yaml.org,2002:merge"


# libyaml's parser where PyYAML was built with it (its wheels are): the same documents and
# marks, parsed about 20 times faster than by the pure-Python one. Settings are read often
# (every service start, every command), and serving.yaml's defaults come from the shipped file.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping. PyYAML keeps the last
    value without a word, so a second `version:` would win unseen, and a repeated `name:`
    in one class would surface later as a misleading "duplicate names". A `<<` merge may
    still be overridden by a key written beside it: that is what merging is for."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base class refuses it with its own message
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first at line {first_line[key]}); keep one of them",
                    key_node.start_mark,
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning every failure into a ConfigError that names the file; a key
    repeated in one mapping is such a failure."""
    text = read_text(path, ConfigError)
    try:
        # A copy: the caller may change what it gets, and the next read must not see that.
        return copy.deepcopy(_parsed(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


@lru_cache(maxsize=64)
def _parsed(text: str) -> Any:
    """The YAML `text`, parsed: by its content, so a file read again unchanged is parsed once
    and an edited one (whatever its timestamps say) anew."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: plain data only


def parse_config(data: Any, model: type[ModelT], *, source: str) -> ModelT:
    """Validate already-loaded data against `model`; errors name `source` and the key."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {kind}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def load_config(path: Path, model: type[ModelT]) -> ModelT:
    """Load one YAML file into a typed, validated config object."""
    return parse_config(read_yaml(path), model, source=str(path))


class IOSettings(StrictModel):
    max_pixels: int = Field(50_000_000, gt=0, description="Largest image, in pixels.")
    max_bytes: int = Field(30 * 1024 * 1024, gt=0, description="Largest upload, in bytes.")
    stored_max_pixels: int = Field(
        200_000_000, gt=0, description="Largest stored photo shown or re-scored, in pixels."
    )


class EnvOverYamlSettings(BaseSettings):
    """Settings whose keyword values come from a YAML file and whose env variables win."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


class Settings(EnvOverYamlSettings):
    """Runtime settings: configs/shanyraq.yaml, overridden by SHANYRAQ_* variables."""

    model_config = SettingsConfigDict(
        env_prefix="SHANYRAQ_", env_nested_delimiter="__", extra="forbid"
    )

    configs_dir: Path = Field(default_factory=default_configs_dir)
    io: IOSettings = IOSettings()


def settings_env_names(settings_cls: type[BaseSettings]) -> frozenset[str]:
    """Every variable `settings_cls` reads, upper-case: one per field, and one per key of a
    nested group (`PREFIX_GROUP__KEY`, the group itself taking JSON)."""
    prefix = str(settings_cls.model_config.get("env_prefix") or "").upper()
    delimiter = str(settings_cls.model_config.get("env_nested_delimiter") or "")
    return frozenset(_field_env_names(settings_cls, prefix, delimiter))


def _field_env_names(model: type[BaseModel], prefix: str, delimiter: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        env_name = prefix + name.upper()
        yield env_name
        group = _nested_model(field.annotation)
        if group is not None and delimiter:
            yield from _field_env_names(group, env_name + delimiter.upper(), delimiter)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings group a field holds (`IOSettings`, `RateLimits | None`), else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        groups = [_nested_model(arg) for arg in get_args(annotation)]
        return next((group for group in groups if group is not None), None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def check_env_names(known: Collection[str], *, skip_prefix: str | None = None) -> None:
    """ConfigError for the first SHANYRAQ_ variable that is neither in `known` nor one of
    OWN_ENV_NAMES, naming the closest valid one. pydantic-settings reads only the names it
    knows, so a misspelt one would leave its setting at the file's value without a word (the
    service on the default SQLite file instead of PostgreSQL). Names under `skip_prefix`
    are another settings class's to check. Case is ignored, as pydantic-settings ignores it,
    except for EXACT_CASE_ENV_NAMES, which are read by their exact name."""
    valid = {name.upper() for name in known} | OWN_ENV_NAMES
    for name in sorted(os.environ):
        upper = name.upper()
        if upper in EXACT_CASE_ENV_NAMES and name != upper:
            raise ConfigError(
                f"{name} is not read: this name is case-sensitive; did you mean {upper}?"
            )
        if not upper.startswith(ENV_PREFIX) or upper in valid:
            continue
        if skip_prefix is not None and upper.startswith(skip_prefix):
            continue
        suggestion = closest_env_name(upper, valid)
        hint = (
            f"did you mean {suggestion}?"
            if suggestion
            else "unset it: only shanyraq.yaml (SHANYRAQ_<SECTION>__<KEY>), serving.yaml "
            "(SHANYRAQ_SERVING__<KEY>) and Label Studio's URL and token are set this way "
            "(README: Configuration)"
        )
        raise ConfigError(f"{name} is not a setting; {hint}")


def closest_env_name(name: str, valid: Collection[str]) -> str | None:
    """The valid name `name` most likely misspells: matched level by level (`__`, the nested
    delimiter of both settings classes), each part among the names at its level, else the
    whole name among all of them; None when none is close."""
    parts = name.removeprefix(ENV_PREFIX).split("__")
    valid_parts = [v.removeprefix(ENV_PREFIX).split("__") for v in valid]
    chosen: list[str] = []
    for part in parts:
        level = {
            v[len(chosen)]
            for v in valid_parts
            if v[: len(chosen)] == chosen and len(v) > len(chosen)
        }
        match = (
            part if part in level else next(iter(difflib.get_close_matches(part, level, n=1)), None)
        )
        if match is None:
            break
        chosen.append(match)
    suggestion = ENV_PREFIX + "__".join(chosen)
    if len(chosen) == len(parts) and suggestion in valid:
        return suggestion
    # Without the prefix every name shares, which would make any two look alike.
    stripped = {v.removeprefix(ENV_PREFIX): v for v in valid}
    whole = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), stripped, n=1, cutoff=0.85)
    return stripped[whole[0]] if whole else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings, read once. Tests call `get_settings.cache_clear()` after changing env."""
    check_env_names(settings_env_names(Settings), skip_prefix=SERVING_ENV_PREFIX)
    path = default_configs_dir() / "shanyraq.yaml"
    data = read_yaml(path) if path.exists() else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(f"{path} (or SHANYRAQ_* env)", exc)) from None
