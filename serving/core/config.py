"""Service settings: configs/serving.yaml, overridden by SHANYRAQ_SERVING__* variables."""

from __future__ import annotations

import os
import re
import secrets
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict, SettingsError

from serving.core.reason_chars import ReasonChars
from serving.data_dir import KEY_FILE, make_private_dir
from shanyraq.config import (
    EnvOverYamlSettings,
    Settings,
    StrictModel,
    check_env_names,
    default_configs_dir,
    format_validation_error,
    read_yaml,
    settings_env_names,
)
from shanyraq.errors import ConfigError, read_text

# The least grace `shanyraq store sweep` takes (serving.store_sweep): an upload stores its file
# a moment before it commits its row, so a younger file with no row may be one being filed.
STORE_SWEEP_MIN_GRACE_HOURS = 1.0

# The longest migration_lock_wait_s: a day (PostgreSQL's lock_timeout stops at about 24 days).
MIGRATION_LOCK_WAIT_MAX_S = 86400.0

# Kazakhstan has kept one zone, UTC+5, since 2024-03-01 (IANA tzdata 2024a). Older data still
# puts Almaty and Qostanay at UTC+6, which would leave every time on the pages an hour off.
KAZAKH_ZONES = frozenset(
    {
        "Asia/Almaty",
        "Asia/Qostanay",
        "Asia/Aqtobe",
        "Asia/Aqtau",
        "Asia/Atyrau",
        "Asia/Oral",
        "Asia/Qyzylorda",
    }
)
KAZAKH_UTC_OFFSET = timedelta(hours=5)
_KAZAKH_CHECK_MOMENT = datetime(2024, 6, 1, 12)


def _check_kazakh_zone_data(name: str, zone: tzinfo) -> None:
    """Refuse a Kazakh zone whose data predates tzdata 2024a (UTC+6 where it is now UTC+5)."""
    if name not in KAZAKH_ZONES:
        return
    moment = _KAZAKH_CHECK_MOMENT.replace(tzinfo=zone)
    if moment.utcoffset() != KAZAKH_UTC_OFFSET:
        raise ValueError(
            f"time zone data is older than 2024a: {name} is UTC{moment.isoformat()[19:]} on "
            "2024-06-01, not UTC+05:00; update the system's tzdata package, or run "
            "`pip install -U tzdata` and set PYTHONTZPATH= (empty) so Python reads it"
        )


# The level names serving.yaml's log_level takes, as logging and uvicorn name them.
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class SigningKeyMissingError(ConfigError):
    """No token and audit key is configured or on disk, and this command may not make one."""

    code = "signing_key_missing"


class RateLimits(StrictModel):
    login_per_minute: int = Field(10, gt=0, description="Login attempts per client address.")
    # Per account as well: attempts spread over many addresses still meet this one. It counts
    # a username whether or not the account exists, so a 429 reveals nothing about accounts.
    login_per_account: int = Field(
        20,
        gt=0,
        description="Failed login attempts per username within login_account_window_minutes.",
    )
    login_account_window_minutes: float = Field(15, gt=0)
    upload_per_minute: int = Field(
        120, gt=0, description="Photo uploads per user (a 503 gives its place back)."
    )


class Batching(StrictModel):
    enabled: bool = True
    max_batch: int = Field(16, gt=0)
    max_wait_ms: float = Field(10.0, ge=0)
    # An upload whose photo the model has not scored by then is refused (503, nothing stored)
    # instead of hanging: a hung model call cannot be stopped, but its callers are let go.
    score_timeout_s: float = Field(30.0, gt=0)
    # Shutdown waits this long at most for the model calls running (batching on or off), never
    # past score_timeout_s and not for a call already past it; one still running then is
    # abandoned (a hung call cannot be stopped), so the process ends within a stop's grace.
    shutdown_wait_s: float = Field(10.0, ge=0, allow_inf_nan=False)
    # Photos waiting for the model beyond the batch it runs; one more is refused at once (503,
    # nothing stored) instead of waiting, its pixels in memory, towards score_timeout_s.
    max_queued: int = Field(256, gt=0)


class ServingSettings(EnvOverYamlSettings):
    """Everything the service needs to start; parsed once, at the edge."""

    model_config = SettingsConfigDict(
        env_prefix="SHANYRAQ_SERVING__",
        env_nested_delimiter="__",
        extra="forbid",
        protected_namespaces=(),
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Path("var/serving")
    database_url: str = ""
    auto_migrate: bool = True
    # PostgreSQL: how long a start that migrates (auto_migrate) waits for another session
    # holding alembic_version (a pg_dump) before it refuses, or the role's shorter lock_timeout.
    # Without this key: serving.db_upgrade.LOCK_WAIT_S, as `db upgrade --lock-wait`.
    migration_lock_wait_s: float = Field(
        default_factory=lambda: _lock_wait_default(),
        gt=0,
        le=MIGRATION_LOCK_WAIT_MAX_S,
        allow_inf_nan=False,
        description="Seconds a migrating start waits for alembic_version on PostgreSQL.",
    )
    model_dir: Path | None = None
    fusion_dir: Path | None = None
    # Whether assessments made with a fusion model may be recomputed on the rules alone while
    # the service has none (serving.assessments.held_back). A site's serving.yaml without
    # this key gets the shipped value.
    allow_rules_only: bool = Field(
        default_factory=lambda: bool(_shipped("allow_rules_only")),
        description=(
            "Without a fusion model, recompute assessments made with one on the rules alone "
            "(false: keep them, marked stale, and refuse decisions until the model is back)."
        ),
    )
    secret_key: SecretStr | None = Field(None, min_length=32, description="HS256 key, 32+ chars.")
    token_ttl_minutes: float = Field(60, gt=0)
    # The longest a page session lasts from its sign-in, however active (renewals stop
    # there). A site's serving.yaml without this key gets the shipped value.
    session_max_hours: float = Field(
        default_factory=lambda: float(_shipped("session_max_hours")),
        gt=0,
        description="Hours after sign-in when a page session ends, even if in use.",
    )
    # How long before a page session ends its pages warn and offer to stay signed in (WCAG
    # 2.2.1: at least 20 s). A site's serving.yaml without this key gets the shipped value.
    session_warning_seconds: float = Field(
        default_factory=lambda: float(_shipped("session_warning_seconds")),
        ge=20,
        description="Seconds before a page session ends when its pages warn and offer to extend.",
    )
    # Whether the pages' cookies carry Secure. A site's serving.yaml without this key gets the
    # shipped value (one source of truth).
    secure_cookies: Literal["auto", "always", "never"] = Field(
        default_factory=lambda: _shipped("secure_cookies"),
        validate_default=True,
        description=(
            "Secure flag of the pages' cookies: auto (when the request's scheme is https), "
            "always (behind a TLS proxy), never."
        ),
    )
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0)
    max_json_body_bytes: int = Field(1024 * 1024, gt=0)
    rate_limits: RateLimits = RateLimits()
    batching: Batching = Batching()
    # On a stop (SIGTERM), the longest the server waits for the requests in flight (an upload
    # on a hung model, a phone sending its photo slowly) before it cancels them; then the app
    # shuts down (batching.shutdown_wait_s). Whole seconds, as uvicorn takes them. A site's
    # serving.yaml without this key gets the shipped value.
    shutdown_requests_s: int = Field(
        default_factory=lambda: int(_shipped("shutdown_requests_s")),
        gt=0,
        description="Seconds a stop waits for the requests in flight before it cancels them.",
    )
    # How long before the end of shutdown_requests_s a stop answers the uploads still waiting on
    # the photo model with 503 "shutting down" (half of shutdown_requests_s if that is shorter;
    # serving.shutdown_stop). A site's serving.yaml without this key gets the shipped value.
    shutdown_answer_margin_s: float = Field(
        default_factory=lambda: float(_shipped("shutdown_answer_margin_s")),
        gt=0,
        allow_inf_nan=False,
        description="Seconds before a stop cancels the requests in flight when it answers the "
        "uploads still waiting on the photo model with 503.",
    )
    # The least severe records `serve` and `demo` log, the app's and uvicorn's (serving.logs).
    # No "trace": uvicorn's own level below debug (every ASGI message of every request) is no
    # level of Python's logging. A site's serving.yaml without this key gets the shipped value.
    log_level: LogLevel = Field(
        default_factory=lambda: _shipped("log_level"),
        validate_default=True,
        description="Least severe level logged: critical, error, warning, info or debug.",
    )
    # Who may read /metrics (no sign-in): addresses or networks of the peer the server sees.
    # A site's serving.yaml without this key gets loopback only.
    metrics_allowed_clients: list[IPvAnyNetwork | Literal["testclient"]] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        validate_default=True,
        description="Client addresses or networks allowed to scrape /metrics; [] for none.",
    )
    # Append-only file of the audit chain's head after each committed append, kept outside
    # the database (serving/audit.py); None: <data_dir>/audit_anchor.log. One per database.
    audit_anchor_file: Path | None = None
    # A site's serving.yaml without this key gets the shipped list (one source of truth).
    override_reasons: list[str] = Field(
        default_factory=lambda: [str(item) for item in _shipped("override_reasons")], min_length=1
    )
    # The limits on a reason in words (serving.core.reason_chars); a site's serving.yaml
    # without the key, or without one of its limits, gets the shipped value.
    reason_chars: ReasonChars = Field(
        default_factory=ReasonChars,
        description="Characters a reason in words holds: an override's least, a decision's "
        "and a room correction's most.",
    )
    # The same for the drift report's alert threshold.
    drift_alert_psi: float = Field(
        default_factory=lambda: float(_shipped("drift_alert_psi")),
        gt=0,
        description="PSI above which the drift report flags a head.",
    )
    # The same for the fewest photos on a side of a head the drift report judges.
    drift_min_photos: int = Field(
        default_factory=lambda: int(_shipped("drift_min_photos")),
        ge=1,
        description="Photos a head needs on each side before the drift report judges its PSI.",
    )
    oversight_plot_cache: int = Field(
        default_factory=lambda: int(_shipped("oversight_plot_cache")),
        ge=1,
        description="Oversight page plots kept drawn (the least recently used are redrawn).",
    )
    # How old a photo file with no photo row must be before `shanyraq store sweep` may remove
    # it. A site's serving.yaml without this key gets the shipped value.
    store_sweep_grace_hours: float = Field(
        default_factory=lambda: float(_shipped("store_sweep_grace_hours")),
        ge=STORE_SWEEP_MIN_GRACE_HOURS,
        allow_inf_nan=False,
        description="Hours a photo file no photo row names is kept before a sweep removes it.",
    )
    # How long an upload's Idempotency-Key replays its first answer (serving.idempotency); an
    # older key is unused. A site's serving.yaml without this key gets the shipped value.
    idempotency_key_retention_hours: float = Field(
        default_factory=lambda: float(_shipped("idempotency_key_retention_hours")),
        ge=1,
        allow_inf_nan=False,
        description="Hours an upload's Idempotency-Key is kept and its first answer replayed.",
    )
    # The time zone the pages show times in (stored times stay UTC). The same for a site's
    # serving.yaml without this key: the shipped value.
    display_timezone: str = Field(
        default_factory=lambda: str(_shipped("display_timezone")),
        validate_default=True,
        description="IANA time zone of the times on the pages, e.g. Asia/Almaty or UTC.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value  # INFO, as logging writes it

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}: use an IANA name such as Asia/Almaty or UTC"
            ) from None
        _check_kazakh_zone_data(name, zone)
        return name

    @model_validator(mode="after")
    def _reasons_fit_a_body(self) -> ServingSettings:
        self.reason_chars.check_within(min(self.max_body_bytes, self.max_json_body_bytes))
        return self

    @property
    def display_zone(self) -> ZoneInfo:
        return ZoneInfo(self.display_timezone)

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "photos"

    @property
    def resolved_audit_anchor_file(self) -> Path:
        return self.audit_anchor_file or self.data_dir / "audit_anchor.log"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'shanyraq.db'}"

    def signing_key(self, *, create: bool = True) -> bytes:
        """The token and audit key: the configured secret, else the key file (mode 0600).

        `create`: make the file when it is missing; otherwise that is SigningKeyMissingError.
        Only a fresh install may: `serve` and `users add` while the audit log is empty
        (serving/cli.py), and `demo` in its own folder. A new key beside entries signed with
        the old one would make all of them read as tampered and sign every token out.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / KEY_FILE
        if not path.exists():
            if not create:
                raise SigningKeyMissingError(
                    f"no signing key at {path} and secret_key (SHANYRAQ_SERVING__SECRET_KEY) "
                    "is not set; set SHANYRAQ_SERVING__SECRET_KEY or restore the file (a new "
                    "key would make every audit entry read as tampered)"
                )
            make_private_dir(self.data_dir)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        key = read_text(path, SigningKeyMissingError).strip()
        if not key:
            raise SigningKeyMissingError(f"{path} is empty; restore the signing key file")
        return key.encode()


def _shipped(key: str) -> Any:
    """The shipped configs/serving.yaml's value of `key`: the default of a setting a site's
    serving.yaml leaves out (one source of truth)."""
    return read_yaml(default_configs_dir() / "serving.yaml")[key]


def _lock_wait_default() -> float:
    from serving.db_upgrade import LOCK_WAIT_S

    return LOCK_WAIT_S


def load_serving_settings(path: Path | None = None, **overrides: object) -> ServingSettings:
    """Read serving.yaml (default: configs/serving.yaml); keyword overrides win over the file.

    A `path` given that does not exist is a ConfigError (only the default may be absent); so
    is a SHANYRAQ_ variable that is no setting of the service's or of shanyraq.yaml's (the
    service reads those too), naming the closest valid one.
    """
    check_env_names(settings_env_names(ServingSettings) | settings_env_names(Settings))
    given = path is not None
    path = path or default_configs_dir() / "serving.yaml"
    data = read_yaml(path) if given or path.exists() else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    for key in ("model_dir", "fusion_dir"):
        if data.get(key) == "":
            data[key] = None
    data.update(overrides)
    try:
        return ServingSettings(**data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(f"{path} (or SHANYRAQ_SERVING__* env)", exc)
        ) from None
    except SettingsError as exc:  # a list or mapping variable that is not JSON
        raise ConfigError(_env_error(exc)) from None


def _env_error(exc: SettingsError) -> str:
    """A SHANYRAQ_SERVING__ variable pydantic-settings could not parse, in one line naming it."""
    found = re.search(r'field "(\w+)"', str(exc))
    name = f"SHANYRAQ_SERVING__{found[1].upper()}" if found else "a SHANYRAQ_SERVING__ variable"
    return (
        f"{name} is not valid JSON: a list or mapping setting in the environment is "
        """written as JSON, e.g. '["127.0.0.1", "::1"]' or '{"login_per_minute": 10}'"""
    )


@lru_cache(maxsize=1)
def get_settings() -> ServingSettings:
    """Settings, read once. Tests build their own with `load_serving_settings(**overrides)`."""
    return load_serving_settings()
