"""Database tables (SQLAlchemy 2): users, families, photos, assessments, decisions, room
corrections, audit, and the re-scoring runs with their scores (serving/rescore.py writes them).

The schema is owned by the Alembic migrations in serving/migrations; a test checks that
these models and the migrations agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The one list of roles: the API schemas use the Literal, everything else the tuple.
Role = Literal["inspector", "annotator", "commission", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
DECISION_KINDS = ("accept", "override")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend: SQLite would hand back naive datetimes, and
    PostgreSQL hands back the instant in its session's time zone (the server's `timezone`
    setting, e.g. +05:00 for a server set to Asia/Almaty), whose date and text are not UTC's."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    # None only for admins: national scope. Everyone else sees one region.
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Signed out everywhere at this moment: access tokens issued before it (and, since a
    # token's iat is in whole seconds, in the same second) are refused. See serving/users.py.
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(map(repr, ROLES))})", name="ck_users_role"),
        CheckConstraint("region IS NOT NULL OR role = 'admin'", name="ck_users_region"),
    )


class Family(Base):
    __tablename__ = "families"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(64), index=True)
    settlement: Mapped[str] = mapped_column(String(16))
    head_gender: Mapped[str] = mapped_column(String(16))
    # The validated record as welfare.schema serialises it (criteria, explicit missing values).
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("families.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    room_hint: Mapped[str | None] = mapped_column(String(32), nullable=True)
    has_gps: Mapped[bool] = mapped_column(Boolean, default=False)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)
    # none_as_null: a photo without a score (or verdict) holds SQL NULL, not the JSON text
    # "null", so `score IS NULL` finds it (migration 0007 converted the rows written before).
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    score: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    perceptual_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("family_id", "sha256", name="uq_photos_family_sha256"),)


class ReuseLink(Base):
    """An upload found to be the same photo as another family's (serving.uploads).

    Written in the upload's transaction, so an assessment of the *other* family made before
    the upload learns it is out of date (serving.assessments: reason `reuse`). The other photo
    is named by family and sha256, not by id: it may have been an upload still in flight,
    whose row was committed after this one. A link counts only while that photo exists.
    """

    __tablename__ = "reuse_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    other_family_id: Mapped[str] = mapped_column(String(64))
    other_sha256: Mapped[str] = mapped_column(String(64))
    distance: Mapped[int] = mapped_column(Integer)  # full perceptual hash, bits
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("photo_id", "other_family_id", "other_sha256", name="uq_reuse_links_pair"),
        Index("ix_reuse_links_other", "other_family_id", "other_sha256"),
    )


class Assessment(Base):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("families.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    asp: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    photo_ids: Mapped[list[Any]] = mapped_column(JSON)
    family_version: Mapped[int] = mapped_column(Integer)
    input_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("family_id", "version", name="uq_assessments_version"),)


class Decision(Base):
    """A commission member's decision. No code path lets a model write one."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), index=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("families.id"), index=True)
    region: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    model_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decided_level: Mapped[int] = mapped_column(Integer)
    reason_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The family's groups when it was decided (serving.reports.GROUPINGS; `region` above is
    # one), which the fairness report counts it in. NULL on decisions recorded before
    # migration 0010: those are grouped by the family's record as it is now.
    settlement: Mapped[str | None] = mapped_column(String(16), nullable=True)
    head_gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The family's latest decision its sender saw, as sent (`DecisionRequest.seen_decision_id`,
    # 0: none), which serving.decisions checked it against. NULL: sent without one (an API
    # client from before it), or recorded before migration 0013. No foreign key: 0 is none.
    seen_decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        CheckConstraint("kind IN ('accept', 'override')", name="ck_decisions_kind"),
        CheckConstraint(
            "kind = 'accept' OR reason_code IS NOT NULL", name="ck_decisions_override_reason"
        ),
    )


class RoomCorrection(Base):
    """A request to correct a photo's room note (serving.photo_room), with its reason in words.

    One row per request, an unchanged one too (`unchanged`: the photo had the note asked
    for). Its `photo_room_corrected` audit entry pins it, the reason through `reason_sha256`
    only, so the words are not copied into a log nothing can erase
    (serving.room_check tells a row changed, deleted or added outside the service).
    """

    __tablename__ = "room_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("families.id"), index=True)
    previous_room_hint: Mapped[str | None] = mapped_column(String(32), nullable=True)
    room_hint: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # As serving.decisions.reason_words stores a decision's: line breaks as LF, no NUL.
    reason: Mapped[str] = mapped_column(Text)
    corrected_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    unchanged: Mapped[bool] = mapped_column(Boolean, default=False)


class IdempotencyKey(Base):
    """The first answer to a request with an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Kept idempotency_key_retention_hours from here (serving.idempotency); indexed (0014) to
    # find the expired rows.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class AuditEntry(Base):
    """One link of the hash chain; `at` is kept as text so the hashed form never changes.

    Append-only in the database too: migration 0003 adds triggers that refuse UPDATE and
    DELETE (and TRUNCATE on PostgreSQL) on this table.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(128), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class RevokedToken(Base):
    """An access token signed out before it expired, by its `jti`.

    Kept until the token would have expired (`expires_at`, seconds since the epoch); expired
    rows are dropped at the next sign-out, since an expired token is refused anyway.
    """

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class AuditHead(Base):
    """The chain's last link (one row); appends lock it, and verify checks the tail against it.

    `mac` is the audit key's HMAC over (seq, hash), so a head cannot be made up without the
    key; it is NULL only for the genesis row and for a head written before migration 0003.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RescoreRun(Base):
    """One re-scoring of the photos in scope under one model version, and how far it got."""

    __tablename__ = "rescore_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(128))
    since_key: Mapped[str] = mapped_column(String(40))  # "" = every photo
    status: Mapped[str] = mapped_column(String(16), default="running")
    last_photo_id: Mapped[int] = mapped_column(Integer, default=0)
    scored: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # What the scores depend on besides the model: the scorer path (cpu, gpu), a digest of
    # the engine settings and the code version. A resume must match them (serving/rescore_runs.py);
    # NULL on a run started before migration 0006.
    scorer: Mapped[str | None] = mapped_column(String(32), nullable=True)
    engine_config: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # A digest of the model's files (model.onnx, model.json): a copy edited or re-exported under
    # the same model_version scores otherwise. NULL on a run started before migration 0009.
    model_artifact: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # sqlite_autoincrement: `rescore discard` deletes a run; its id is never given again, so
    # the audit log's run_id names one run (migration 0012).
    __table_args__ = (
        UniqueConstraint("model_version", "since_key", name="uq_rescore_runs_key"),
        {"sqlite_autoincrement": True},
    )


class RescoredScore(Base):
    """A photo's PhotoScore under one model version (or why it has none)."""

    __tablename__ = "rescore_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # photos.id, without a foreign key: databases whose tables `ensure_tables` made before
    # migration 0002 have none, and both must match these models.
    photo_id: Mapped[int] = mapped_column(Integer, index=True)
    model_version: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[int] = mapped_column(Integer)
    # none_as_null: a photo without a score holds SQL NULL, not the JSON text "null".
    score: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("photo_id", "model_version", name="uq_rescore_scores_photo_model"),
    )
