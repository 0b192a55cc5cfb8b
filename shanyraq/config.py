"""Configuration: YAML files in configs/ parsed once into typed objects, plus env settings."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shanyraq.errors import ConfigError, read_text

ModelT = TypeVar("ModelT", bound=BaseModel)

_DEFAULT_CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"


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


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning every failure into a ConfigError that names the file."""
    text = read_text(path, ConfigError)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings, read once. Tests call `get_settings.cache_clear()` after changing env."""
    path = default_configs_dir() / "shanyraq.yaml"
    data = read_yaml(path) if path.exists() else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(f"{path} (or SHANYRAQ_* env)", exc)) from None
