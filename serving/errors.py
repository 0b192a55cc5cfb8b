"""The service's domain errors, each with a stable code and HTTP status (mapped in api/errors)."""

from __future__ import annotations

from collections.abc import Iterable

from shanyraq.errors import ShanyraqError


class NotAuthenticatedError(ShanyraqError):
    code = "not_authenticated"
    http_status = 401


class InvalidTokenError(ShanyraqError):
    code = "token_invalid"
    http_status = 401


class BadCredentialsError(ShanyraqError):
    code = "credentials_invalid"
    http_status = 401


class ForbiddenError(ShanyraqError):
    code = "forbidden"
    http_status = 403


class RoleRefusedError(ForbiddenError):
    """A route refused for the caller's role: `roles` are those its policy admits (answers
    name them; they say nothing of the record asked for)."""

    def __init__(self, message: str, *, roles: Iterable[str]) -> None:
        super().__init__(message)
        self.roles = sorted(roles)


class NotFoundError(ShanyraqError):
    code = "not_found"
    http_status = 404


class ConflictError(ShanyraqError):
    code = "conflict"
    http_status = 409


class HeatmapOtherModelError(ConflictError):
    """A heat map asked for a photo that the loaded model did not score: its evidence would
    explain another model's scores than the ones shown beside it."""

    code = "heatmap_other_model"


class HeatmapNotAHomeError(ConflictError):
    """A sign heat map asked for a photo the model said is not a home: signs are not read on
    such photos (not_dwelling photos train the room head only), so no evidence explains them."""

    code = "heatmap_not_a_home"


class IdempotencyMismatchError(ShanyraqError):
    code = "idempotency_key_reused"
    http_status = 422


class RecordInvalidError(ShanyraqError):
    code = "record_invalid"
    http_status = 422


class DecisionInvalidError(ShanyraqError):
    code = "decision_invalid"
    http_status = 422


class BodyTooLargeError(ShanyraqError):
    code = "body_too_large"
    http_status = 413


class RateLimitedError(ShanyraqError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnavailableError(ShanyraqError):
    """A part the route needs (model, fusion model, upstream module) is not loaded, or cannot
    take the request now. `retry_after_s`, where the raiser can tell, is how many seconds to
    wait before sending it again (the answer's Retry-After header, as for 429); None sends no
    header."""

    code = "unavailable"
    http_status = 503

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageError(ShanyraqError):
    code = "storage_failed"
    http_status = 500


class PhotoUnreadableError(StorageError):
    """A stored original is there but cannot be read (a folder in its place, permissions, a
    disk error): damage to the photo store, named with the code `shanyraq rescore` ends with
    for it (serving.rescore_store_damage.PhotoStoreDamagedError); an administrator restores the
    file from a backup. The message names the file inside the store, never the server's
    folders; the error mapping logs it once."""

    code = "photo_store_damaged"
