"""The service's shared state, built once by the app's lifespan and reached through deps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from serving.core.config import ServingSettings
from serving.metrics import Metrics
from serving.pipeline import PhotoPipeline
from serving.ratelimit import RateLimiter
from serving.storage import PhotoStore

if TYPE_CHECKING:
    from serving.reuse_index import ReuseIndex


@dataclass
class Services:
    settings: ServingSettings
    db_engine: Engine
    sessions: sessionmaker[Session]
    store: PhotoStore
    signing_key: bytes
    login_limiter: RateLimiter  # per client address
    login_account_limiter: RateLimiter  # per username
    upload_limiter: RateLimiter
    pipeline: PhotoPipeline
    metrics: Metrics
    read_engine: Engine | None = None  # SQLite: deferred transactions, no write lock
    read_sessions: sessionmaker[Session] | None = None
    reuse: ReuseIndex | None = None
    fusion_model: Any = None  # welfare.fusion.FusionModel once loaded
    load_problems: list[str] = field(default_factory=list)

    @property
    def readers(self) -> sessionmaker[Session]:
        """Sessions for pure reads (token and scope checks); write sessions when unset."""
        return self.read_sessions if self.read_sessions is not None else self.sessions
