"""Bodies of the photo routes: a photo's record, its scores, quality and reuse flags, an
upload's answer (UploadOut), a photo's view (PhotoViewOut) and a correction of its room note
(RoomCorrectionIn, RoomCorrectionOut)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.core.reason_chars import ReasonChars
from serving.decisions import reason_words
from serving.reuse_index import REUSE_DETAIL_ROLES
from shanyraq.json_values import finite_or_none
from vision.score import ABSTAIN_REASONS


class QualityOut(BaseModel):
    status: Literal["pass", "warn", "fail"]
    reasons: list[str]
    retake_hint: str = Field(examples=["The photo is blurred. Hold the phone still ..."])
    measurements: dict[str, float]


class ReuseMatch(BaseModel):
    photo_id: int | None = Field(
        None,
        description="null: the other family is outside the viewer's region, or the photo is "
        "still being filed.",
    )
    family_id: str | None = Field(
        None, description="null: the other family is outside the viewer's region."
    )
    distance: int = Field(
        description="Distance of the perceptual hashes in bits (0: identical hashes)."
    )


_DETAIL_ROLES = " and ".join(sorted(REUSE_DETAIL_ROLES))


class ReuseOut(BaseModel):
    """Near-identical photos already filed for other families (a sign of reused photos)."""

    reused: bool
    matches: int = Field(description="How many photos of other families match (every role).")
    details: list[ReuseMatch] = Field(
        default_factory=list,
        description=f"One entry per match, for the {_DETAIL_ROLES} roles only; empty for "
        "the other roles, who get the count alone.",
    )


_NO_NUMBER = (
    "null: the model gave no number (NaN or infinite, e.g. an fp16 overflow on a GPU); the "
    "photo then abstains (`low_confidence`) and none of its scores are used."
)


def _abstain_reasons_in_schema(schema: dict[str, Any]) -> None:
    """OpenAPI: the engine's codes (vision.score.ABSTAIN_REASONS), the only ones it stores."""
    schema["items"]["enum"] = list(ABSTAIN_REASONS)


class ScoreOut(BaseModel):
    """A photo's calibrated scores (vision.score.PhotoScore), keyed by the taxonomy's labels."""

    # Numbers only: FastAPI leaves nulls out of OpenAPI examples, so a score with none (see
    # below) would show as empty heads. The second abstains: not a photo of a home.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "photo_sha256": "9f2c" + "0" * 60,
                    "model_version": "demo-shanyraq_mnv3_small-20250601-3fa2c9d1",
                    "room": {"kitchen": 0.88, "bathroom": 0.02, "bedroom": 0.04,
                             "living_room": 0.03, "exterior": 0.01, "not_dwelling": 0.02},
                    "condition": {"1": 0.02, "2": 0.61, "3": 0.3, "4": 0.06, "5": 0.01},
                    "signs": {"damp_mould": 0.83, "structural_damage": 0.07,
                              "unfinished_surfaces": 0.12, "broken_window": 0.04,
                              "overcrowding": 0.05, "solid_fuel_stove": 0.02,
                              "premium_appliances": 0.01, "premium_finishes": 0.01},
                    "abstain": False,
                    "abstain_reasons": [],
                },
                {
                    "photo_sha256": "4b7e" + "0" * 60,
                    "model_version": "demo-shanyraq_mnv3_small-20250601-3fa2c9d1",
                    "room": {"kitchen": 0.02, "bathroom": 0.01, "bedroom": 0.01,
                             "living_room": 0.02, "exterior": 0.01, "not_dwelling": 0.93},
                    "condition": {"1": 0.1, "2": 0.2, "3": 0.4, "4": 0.2, "5": 0.1},
                    "signs": {"damp_mould": 0.03, "structural_damage": 0.02,
                              "unfinished_surfaces": 0.05, "broken_window": 0.01,
                              "overcrowding": 0.01, "solid_fuel_stove": 0.01,
                              "premium_appliances": 0.02, "premium_finishes": 0.01},
                    "abstain": True,
                    "abstain_reasons": ["not_dwelling"],
                },
            ]
        }
    )  # fmt: skip

    photo_sha256: str
    model_version: str
    room: dict[str, float | None] = Field(
        description=f"Probability per room class (they sum to 1). {_NO_NUMBER}"
    )
    condition: dict[str, float | None] = Field(
        description=f"Probability per condition grade 1..5 (they sum to 1). {_NO_NUMBER}"
    )
    signs: dict[str, float | None] = Field(
        description=f"Independent probability per sign. {_NO_NUMBER}"
    )
    abstain: bool
    abstain_reasons: list[str] = Field(
        description="Why the photo's scores are not used (empty when they are).",
        json_schema_extra=_abstain_reasons_in_schema,
    )

    @field_validator("room", "condition", "signs")
    @classmethod
    def _no_number_is_null(cls, probs: dict[str, float | None]) -> dict[str, float | None]:
        # A score stored before PhotoScore.to_dict wrote null (SQLite kept the text NaN) reads
        # back as NaN, which the service's JSON responses refuse.
        return finite_or_none(probs)


class RepeatOf(BaseModel):
    """A photo already filed for the same family that a photo is the same as: one that counts,
    where the evidence is already in, not a repeat of it as well. A repeat is named only where
    the photo is verified as it alone (the photo that counts is unreadable); its own
    `repeat_of` names the photo that counts."""

    photo_id: int = Field(description="The filed photo (GET /photos/{photo_id}).")
    number: int = Field(
        description="Its place among the family's photos, oldest first, from 1: the number "
        "the family page shows it under ('Photo 1')."
    )


class PhotoOut(BaseModel):
    photo_id: int
    family_id: str
    sha256: str
    format: str
    width: int = Field(
        description="Full-resolution width as the photo is shown (after EXIF orientation)"
    )
    height: int = Field(
        description="Full-resolution height as the photo is shown (after EXIF orientation)"
    )
    room_hint: str | None
    has_gps: bool
    created_at: datetime
    quality: QualityOut | None
    score: ScoreOut | None
    score_status: Literal["scored", "model_unavailable"]
    repeat_of: list[RepeatOf] = Field(
        default_factory=list,
        description="The family's photos filed before this one that count and that it is the "
        "same as, oldest first, as GET /photos/{photo_id} names them (PhotoViewOut.repeat_of): "
        "its evidence counts once, there, and the family's assessment leaves it out as "
        "`repeated`. Empty when it counts on its own. As found now: the assessment decides "
        "again when it is computed.",
    )


class RoomHintIgnored(BaseModel):
    """A room hint sent with a photo the family already had, not taken: the photo is filed
    once, with the hint it was first sent with (`room_hint`); sending it again changes
    nothing filed. The inspector who uploaded it, or an admin, corrects a wrong hint with PUT
    /families/{family_id}/photos/{photo_id}/room: it is the inspector's note only, and the
    assessment reads each photo's room from the photo itself."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sent": "bathroom",
                    "stored": "kitchen",
                    "text": "This photo was already filed for this family with the room "
                    "kitchen; the room sent with it now (bathroom) was not taken: ...",
                }
            ]
        }
    )

    sent: str = Field(description="The room hint this request sent.")
    stored: str | None = Field(
        description="The filed photo's room hint, as `room_hint` (null: none was noted)."
    )
    text: str = Field(description="What it means and what to do, in English.")


class UploadOut(PhotoOut):
    duplicate: bool = Field(
        description="true: the same bytes were already filed for this family, and this is "
        "the photo filed then (answered with 200, nothing new filed)."
    )
    reuse: ReuseOut
    repeat_of: list[RepeatOf] = Field(
        default_factory=list,
        description="The family's photos that count (already filed) which this photo is the "
        "same as, oldest first: sent again re-encoded, resized or as a screenshot, verified on "
        "pixels as the reuse check is. Its evidence counts once, there: the family's "
        "assessment leaves this photo out as `repeated`. The photo is filed all the same (it "
        "is no reuse and nothing is refused); empty when it counts on its own. As found at "
        "upload: the assessment decides again when it is computed.",
    )
    room_hint_ignored: RoomHintIgnored | None = Field(
        None,
        description="Set when this request sent a room hint other than the filed photo's "
        "(`duplicate` true: answered 200 all the same, as a retry must be): the hint sent, "
        "not taken, and the one filed. null: the hint was taken, none was sent, or the one "
        "sent is the filed one.",
    )


class PhotoViewOut(PhotoOut):
    """One filed photo (GET /photos/{photo_id}), with its reuse flags as of now."""

    duplicate: None = Field(
        None,
        description="Always null: whether the bytes were filed before is an upload's answer "
        "(POST /families/{family_id}/photos), not a property of the photo.",
    )
    room_hint_ignored: None = Field(
        None,
        description="Always null: a room hint sent again and not taken is an upload's answer "
        "(UploadOut.room_hint_ignored), not a property of the photo.",
    )
    reuse: ReuseOut
    repeat_of: list[RepeatOf] = Field(
        default_factory=list,
        description="The family's photos filed before this one that count and that it is the "
        "same as, oldest first, as an upload's answer names them (UploadOut.repeat_of): its "
        "evidence counts once, there, and the family's assessment leaves it out as "
        "`repeated`. Empty when it counts on its own. As found now: the assessment decides "
        "again when it is computed.",
    )


# The widest room name a photo row holds (photos.room_hint).
_ROOM_MAX_CHARS = 32


def room_reason_description(limits: ReasonChars | None = None) -> str:
    """RoomCorrectionIn's `reason` as its schema describes it. The model is built once for every
    app, so it names only the settings' key; each app's OpenAPI says the number its service
    checks, `limits` (serving.api.openapi_limits), beside the key."""
    key = "configs/serving.yaml `reason_chars.room_correction_max`"
    most = f"{key} characters"
    if limits is not None:
        most = f"{limits.room_correction_max} characters ({key})"
    return (
        "Why the note was wrong, in words (kept with the correction, shown on the family page; "
        "its audit entry holds its SHA-256, `reason_sha256`). Surrounding space is dropped, "
        f"and at least 1 character must remain, at most {most}, a line break (CRLF, CR or LF) "
        "counted as one, so no `maxLength` could say it; longer is refused (422 "
        "`request_invalid`, at `body.reason`)."
    )


class RoomCorrectionIn(BaseModel):
    """A filed photo's room note as it should read, and why (PUT
    /families/{family_id}/photos/{photo_id}/room)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"room_hint": "bathroom", "reason": "Chose kitchen by mistake at the visit."},
                {"room_hint": None, "reason": "The room was not noted at the visit."},
            ]
        },
    )

    room_hint: str | None = Field(
        max_length=_ROOM_MAX_CHARS,
        description="A room of configs/taxonomy.yaml `rooms`; null clears the note. Required: "
        "a body without it says nothing to correct.",
    )
    # No max_length: the route counts the reason as serving.photo_room stores it (line breaks
    # as LF), against the running service's limit, as for the page's form and a decision's
    # reason; the JSON body limit bounds what is parsed.
    reason: str = Field(min_length=1, description=room_reason_description())

    @field_validator("reason")
    @classmethod
    def _reason_has_words(cls, reason: str) -> str:
        # Its length is checked by the route (serving.api.routes.photo_room): the limit is the
        # running service's setting, which this module-level model cannot read.
        if not reason_words(reason):
            raise ValueError("the reason must hold words, not only space")
        return reason


class RoomCorrectionOut(PhotoViewOut):
    """The photo after the correction, as GET /photos/{photo_id} shows it, with the note it
    had before. The assessment never reads the note (it reads each photo's room from the
    photo itself), so no assessment goes out of date by it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "photo_id": 7,
                    "family_id": "F-000123",
                    "sha256": "9f2c" + "0" * 60,
                    "format": "JPEG",
                    "width": 3024,
                    "height": 4032,
                    "room_hint": "bathroom",
                    "has_gps": False,
                    "created_at": "2026-11-30T09:15:00Z",
                    "quality": {
                        "status": "pass",
                        "reasons": [],
                        "retake_hint": "",
                        "measurements": {"blur_score": 412.5, "mean_luminance": 121.0},
                    },
                    "score": None,
                    "score_status": "model_unavailable",
                    "repeat_of": [],
                    "duplicate": None,
                    "room_hint_ignored": None,
                    "reuse": {"reused": False, "matches": 0, "details": []},
                    "previous_room_hint": "kitchen",
                    "unchanged": False,
                }
            ]
        }
    )

    previous_room_hint: str | None = Field(
        description="The note filed before this request (null: none was noted). Equal to "
        "`room_hint` when `unchanged`."
    )
    unchanged: bool = Field(
        description=(
            "true: the photo already had this note; nothing was changed, and the request was "
            'audited with "unchanged": true.'
        ),
    )
