"""Annotation settings: configs/annotation.yaml, plus the server URL and token from the env."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shanyraq.config import StrictModel, default_configs_dir, parse_config, read_yaml
from shanyraq.errors import ConfigError
from shanyraq.taxonomy import HeadName

if TYPE_CHECKING:
    from annotation.select import SelectionParams


class ServerConfig(StrictModel):
    url: str = "http://127.0.0.1:8080"
    timeout_s: float = Field(30.0, gt=0)


class ProjectConfig(StrictModel):
    title: str = Field("Shanyraq photos", min_length=3)
    document_root: Path = Path("datasets")
    photos_folder: str = Field("bulk", min_length=1)


class PushConfig(StrictModel):
    batch_size: int = Field(200, gt=0)
    sign_threshold: float = Field(0.5, gt=0, lt=1)


def _default_head_weights() -> dict[HeadName, float]:
    return {"room": 1.0, "condition": 1.0, "signs": 0.5}


class SelectionConfig(StrictModel):
    uncertainty: Literal["entropy", "margin"] = "margin"
    # Each at least 0, and one above: all 0 made every photo equally certain, and k-center then
    # picked in file order; a negative weight rewarded certainty.
    head_weights: dict[HeadName, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=_default_head_weights
    )
    pool_factor: int = Field(10, ge=1)
    diversity: Literal["kcenter", "kmeans"] = "kmeans"
    pick: Literal["uncertain", "central"] = "central"
    near_duplicate_cosine_distance: float = Field(0.0, ge=0, lt=1)
    near_duplicate_hash_bits: int = Field(16, ge=0, le=128)

    @field_validator("head_weights")
    @classmethod
    def _some_weight(cls, weights: dict[HeadName, float]) -> dict[HeadName, float]:
        if not any(w > 0 for w in weights.values()):
            raise ValueError("at least one head needs a weight above 0")
        return weights

    def params(self, budget: int) -> SelectionParams:
        """The selection parameters these settings give, for `budget` photos."""
        from annotation.select import SelectionParams

        return SelectionParams(
            budget=budget, method=self.uncertainty, head_weights=dict(self.head_weights),
            diversity=self.diversity, pool_factor=self.pool_factor, pick=self.pick,
            near_duplicate_cosine_distance=self.near_duplicate_cosine_distance,
            near_duplicate_hash_bits=self.near_duplicate_hash_bits,
        )  # fmt: skip


class MergeConfig(StrictModel):
    method: Literal["majority", "reliability"] = "reliability"


class AnnotationConfig(StrictModel):
    server: ServerConfig = ServerConfig()
    project: ProjectConfig = ProjectConfig()
    push: PushConfig = PushConfig()
    selection: SelectionConfig = SelectionConfig()
    merge: MergeConfig = MergeConfig()

    def document_root(self) -> Path:
        """The document root as an absolute path (relative paths are from the working dir)."""
        return self.project.document_root.expanduser().resolve()

    def photos_dir(self) -> Path:
        return self.document_root() / self.project.photos_folder


class LabelStudioEnv(BaseSettings):
    """What only the environment may say: the token (a secret) and a URL override."""

    model_config = SettingsConfigDict(env_prefix="SHANYRAQ_LABEL_STUDIO_", extra="ignore")

    url: str | None = None
    token: SecretStr | None = None


_SECRET_KEYS = ("token", "api_key", "apikey")  # parts of a key name that says it holds one


def _refuse_secrets(data: Any, source: Path, where: str = "") -> None:
    """Refuse a key that holds a token (`server.token`, a pasted `api_key`), without showing
    its value: the refusal of an unknown key would quote it in full, to the terminal and any
    log of it."""
    if not isinstance(data, dict | list):
        return
    for key, value in data.items() if isinstance(data, dict) else enumerate(data):
        named = f"{where}.{key}" if where else str(key)
        if any(word in str(key).lower() for word in _SECRET_KEYS):
            raise ConfigError(
                f"{source}: key '{named}' holds a Label Studio token (its value is not shown "
                "here), and a token is never read from a file: remove it from the file, and set "
                "SHANYRAQ_LABEL_STUDIO_TOKEN in the environment instead"
            )
        _refuse_secrets(value, source, named)


def load_annotation_config(path: Path | None = None) -> AnnotationConfig:
    """configs/annotation.yaml (or `path`), with SHANYRAQ_LABEL_STUDIO_URL applied; the URL
    must be an http(s) URL with a host (a ConfigError naming where it came from, if not). A
    token in the file is refused without being shown (`_refuse_secrets`)."""
    source = path or default_configs_dir() / "annotation.yaml"
    data = read_yaml(source)
    _refuse_secrets(data, source)
    config = parse_config(data, AnnotationConfig, source=str(source))
    env = LabelStudioEnv()
    if env.url:
        config = config.model_copy(
            update={"server": ServerConfig(url=env.url, timeout_s=config.server.timeout_s)}
        )
    check_server_url(
        config.server.url,
        source="SHANYRAQ_LABEL_STUDIO_URL" if env.url else f"server.url in {source}",
    )
    return config


def check_server_url(url: str, *, source: str) -> None:
    """Refuse a Label Studio URL httpx cannot use, before anything connects. A user name or
    password in it is refused without being shown: the token alone signs in (the client never
    sends them, and each request would log them), so they could only leak."""
    import httpx

    from annotation.client import without_userinfo

    shown = without_userinfo(url)
    if shown != url:
        raise ConfigError(
            f"{source}: the URL holds a user name or password before its host (not shown here: "
            f"{shown!r}), and Label Studio is signed in to with SHANYRAQ_LABEL_STUDIO_TOKEN "
            "alone: remove them from the URL and change that password, since it has been "
            "written down in plain text"
        )
    try:
        parsed = httpx.URL(url)
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise httpx.InvalidURL(f"port {parsed.port} is not 1-65535")
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise ConfigError(
            f"{source}: {url!r} is not a valid URL ({exc}); give the server's address, e.g. "
            "http://127.0.0.1:8080"
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(
            f"{source}: {url!r} is not an http(s) URL with a host; give the server's address, "
            "e.g. http://127.0.0.1:8080"
        )


@lru_cache(maxsize=1)
def get_annotation_config() -> AnnotationConfig:
    return load_annotation_config()


def token_from_env() -> str:
    """The API token, or a ConfigError that says how to set it.

    A token goes into an HTTP header, so it must be printable ASCII: a token with other
    characters (a pasted typographic quote, a newline) is refused here, never shown.
    """
    token = LabelStudioEnv().token
    value = token.get_secret_value().strip() if token is not None else ""
    if not value:
        raise ConfigError(
            "no Label Studio token: set SHANYRAQ_LABEL_STUDIO_TOKEN to a personal access token "
            "(Label Studio > Account & Settings > Personal Access Token) or a legacy token"
        )
    if not (value.isascii() and value.isprintable()):
        raise ConfigError(
            "SHANYRAQ_LABEL_STUDIO_TOKEN holds characters no token has (non-ASCII or control "
            "characters, e.g. a typographic quote or a line break picked up when pasting); "
            "copy the token again from Label Studio > Account & Settings"
        )
    return value
