"""Filing an uploaded photo: idempotent retries, the database row, the audit entry, reuse flags.

The route decodes, scores and stores the bytes first; `record_upload` then writes the row and
the audit entry in one transaction, so a 201 means both the file and the row are durable. Bytes
the family already had are audited too (`photo_upload_duplicate`, the 200), and so is an upload
the route refuses (`record_refusal`, serving.upload_refusals), in a transaction of its own. A
retry answered from its Idempotency-Key is the first request's answer, not an upload: it writes
nothing. A room hint sent with bytes the family already had is not taken, and is told so
(serving.resend_hint).

Bytes the family already had are found by sha256 before any decoding or scoring
(`record_resend`): a phone resending after a lost answer is told the photo is filed, even while
the model is busy or stopped; bytes filed meanwhile, by `record_upload` under the family lock.

Retries with one Idempotency-Key may run at the same time (a client that timed out and tried
again). The key is looked up again inside the filing transaction, and the key row is written
in that same transaction, so whichever request commits first answers for all: the others
return its stored answer, or 422 when their bytes differ. The database orders them (SQLite:
one writer at a time; PostgreSQL: the second insert of a key waits for the first to commit,
then fails, and the retry finds the row). serving.idempotency keeps the key rows, for
`idempotency_key_retention_hours`; an older key is a new request's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serving import audit
from serving.db.models import Family, Photo, ReuseLink
from serving.db.session import session_scope
from serving.idempotency import Answer, remember, replay, retention
from serving.latest_assessments import lock_family
from serving.photo_evidence import Repeat, filed_repeats, repeats_of
from serving.pipeline import Analysis
from serving.resend_hint import hint_answer, ignored_hint
from serving.reuse_index import ReuseMatch, shaped
from serving.reuse_links import reuse_links_of
from vision.score import PhotoScore
from welfare.aggregate import PhotoFlags

if TYPE_CHECKING:
    from serving.reuse_index import InFlight
    from serving.state import Services


@dataclass(frozen=True)
class Filed:
    photo: Photo
    created: bool  # False: this family already had these exact bytes
    # Other families' photos that are the same photo, nearest first: those verified before
    # the transaction, those of exactly these bytes (`_same_bytes`) and, for a photo filed
    # before, those its reuse links name.
    reused_with: tuple[ReuseMatch, ...] = ()
    # The family's photos that count which this one repeats (photo_evidence.repeats_of): it
    # is filed, and its evidence counts once, there. Told, never refused.
    repeats: tuple[Repeat, ...] = ()
    # Already filed: the room hint sent that it does not have, not taken (`ignored_hint`).
    room_hint_ignored: dict[str, str | None] | None = None


def _same_bytes(session: Session, *, family_id: str, sha256: str) -> list[ReuseMatch]:
    """Other families' filed photos of exactly these bytes: the same photo, whatever the
    reuse index proposes (none for a flat frame's hash, at most `max_candidates`)."""
    rows = session.execute(
        select(Photo.id, Photo.family_id, Family.region)
        .join(Family, Family.id == Photo.family_id)
        .where(Photo.sha256 == sha256, Photo.family_id != family_id)
        .order_by(Photo.id)
    )
    return [
        ReuseMatch(photo_id=pid, family_id=family, region=region, sha256=sha256, distance=0)
        for pid, family, region in rows
    ]


def _merged(*found: Sequence[ReuseMatch]) -> tuple[ReuseMatch, ...]:
    """One match per other photo (family, sha256), nearest first; a filed photo's id wins
    over an in-flight match of it (no id yet). One without a sha256 stays as it is."""
    best: dict[tuple[str, str | int | None], ReuseMatch] = {}
    for match in (m for matches in found for m in matches):
        key = (match.family_id, match.sha256 or match.photo_id)
        known = best.get(key)
        if (
            known is None
            or match.distance < known.distance
            or (known.photo_id is None and match.photo_id is not None)
        ):
            best[key] = match
    return tuple(sorted(best.values(), key=lambda m: m.distance))


def filed_photo(session: Session, *, family_id: str, sha256: str) -> Photo | None:
    """The family's photo of exactly these bytes, if it has one."""
    return session.execute(
        select(Photo).where(Photo.family_id == family_id, Photo.sha256 == sha256)
    ).scalar_one_or_none()


def _filed_again(
    session: Session,
    key: bytes,
    existing: Photo,
    *,
    actor: tuple[int, str],
    matches: Sequence[ReuseMatch],
    repeats: Sequence[Repeat] = (),
    room_hint: str | None = None,
) -> Filed:
    """Bytes the family already had: the filed photo, with the photos its links name as
    GET /photos/{id} shows them and those of the family it `repeats`, audited as
    `photo_upload_duplicate`; nothing else written. An upload all the same: who sent a
    family's photo again (another inspector, another day) is the audit trail's to keep, and
    the `room_hint` sent with it where the photo has another (not taken: `ignored_hint`)."""
    linked = reuse_links_of(session, [existing]).get(existing.id, [])
    ignored = ignored_hint(room_hint, existing.room_hint)
    filed = Filed(
        existing, created=False, reused_with=_merged(matches, linked), repeats=tuple(repeats),
        room_hint_ignored=ignored,
    )  # fmt: skip
    noted = {} if ignored is None else {"room_hint_ignored": ignored}
    audit.append(
        session, key, actor=actor[1], action="photo_upload_duplicate",
        target=f"photo:{existing.id}",
        details={
            "family_id": existing.family_id, "sha256": existing.sha256,
            "reuse_matches": len(filed.reused_with),
            "repeat_of": [r.photo_id for r in filed.repeats], **noted,
        },
    )  # fmt: skip
    return filed


def record_upload(
    session: Session,
    key: bytes,
    *,
    family_id: str,
    actor: tuple[int, str],
    analysis: Analysis,
    score: PhotoScore | None,
    room_hint: str | None,
    size_bytes: int,
    hashes_hex: str | None = None,
    reused_with: Sequence[ReuseMatch] = (),
    repeats: Sequence[Repeat] = (),
) -> Filed:
    """Insert the photo row (or find the same bytes already filed) and audit it; flushed.

    A new row is audited as `photo_uploaded`; bytes the family already had as
    `photo_upload_duplicate` on the row found (who sent them again), nothing else written.

    `hashes_hex`: the reuse hashes to keep (full and crops); the full hash alone when None.
    `reused_with`: other families' photos verified as this one; a new row links each of them
    and every other family's photo of the very same bytes (ReuseLink), so their families'
    assessments made before it become stale. `repeats`: the family's photos that count which
    it repeats (`repeats_of`, found before the transaction); none once it is reused.
    """
    decoded = analysis.decoded
    lock_family(session, family_id)  # a decision on this family waits until the photo commits
    matches = _merged(reused_with, _same_bytes(session, family_id=family_id, sha256=decoded.sha256))
    existing = filed_photo(session, family_id=family_id, sha256=decoded.sha256)
    if existing is not None:  # filed meanwhile: what it repeats of the photos before it
        earlier = [r for r in repeats if r.photo_id < existing.id]
        return _filed_again(
            session, key, existing, actor=actor, matches=matches, repeats=earlier,
            room_hint=room_hint,
        )  # fmt: skip
    repeats = () if matches else tuple(repeats)  # another family's photo counts nowhere
    photo = Photo(
        family_id=family_id, sha256=decoded.sha256, format=decoded.format,
        width=decoded.display_size[0], height=decoded.display_size[1], size_bytes=size_bytes,
        room_hint=room_hint, has_gps=decoded.metadata.has_gps, taken_at=decoded.metadata.taken_at,
        quality=analysis.quality.to_dict(), score=score.to_dict() if score else None,
        perceptual_hash=hashes_hex or analysis.photo_hash.to_hex(),
        model_version=score.model_version if score else None, uploaded_by=actor[0],
    )  # fmt: skip
    session.add(photo)
    session.flush()  # IntegrityError here: a concurrent upload of the same bytes won the race
    links = {(m.family_id, m.sha256): m.distance for m in matches if m.sha256 is not None}
    for (other_family, other_sha256), distance in links.items():
        session.add(
            ReuseLink(
                photo_id=photo.id, other_family_id=other_family, other_sha256=other_sha256,
                distance=distance,
            )
        )  # fmt: skip
    audit.append(
        session, key, actor=actor[1], action="photo_uploaded", target=f"photo:{photo.id}",
        details={
            "family_id": family_id, "sha256": decoded.sha256,
            "model_version": photo.model_version, "quality": analysis.quality.status,
            "reuse_links": len(links), "repeat_of": [r.photo_id for r in repeats],
        },
    )  # fmt: skip
    return Filed(photo, created=True, reused_with=matches, repeats=tuple(repeats))


_ATTEMPTS = 3  # at most two lost races (the photo row, then the key row), then an answer


def _answer(
    services: Services,
    file: Callable[[Session], Filed | None],
    *,
    actor: tuple[int, str],
    idempotency: tuple[str, str] | None,
    viewer: tuple[str, str | None],
    shape: Callable[[Photo], dict[str, Any]],
) -> tuple[Answer, Filed | None] | None:
    """File in one transaction (`file`) and answer: 201 new, 200 already filed, or the key's
    stored answer (and no Filed: this request filed nothing); None when `file` found nothing.
    A lost race (IntegrityError: another request committed the same photo row or key row) is
    retried; once both exist a retry can only find them, so three attempts end in an answer."""
    kept_for = retention(services.settings)
    for attempt in range(_ATTEMPTS):
        try:
            with session_scope(services.sessions) as session:
                if idempotency is not None:
                    earlier = replay(
                        session, user_id=actor[0], key=idempotency[0], fingerprint=idempotency[1],
                        kept_for=kept_for,
                    )  # fmt: skip
                    if earlier is not None:  # a concurrent retry with this key committed
                        return earlier, None
                filed = file(session)
                if filed is None:
                    return None
                body = {**shape(filed.photo), "duplicate": not filed.created}
                body["reuse"] = shaped(
                    list(filed.reused_with), viewer_role=viewer[0], viewer_region=viewer[1]
                )
                body["repeat_of"] = [asdict(repeat) for repeat in filed.repeats]
                body["room_hint_ignored"] = hint_answer(
                    filed.room_hint_ignored, family_id=filed.photo.family_id,
                    photo_id=filed.photo.id,
                )  # fmt: skip
                status = 201 if filed.created else 200
                if idempotency is not None:
                    remember(
                        session, user_id=actor[0], key=idempotency[0],
                        fingerprint=idempotency[1], answer=(status, body), kept_for=kept_for,
                    )  # fmt: skip
            return (status, body), filed
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def record_resend(
    services: Services,
    data: bytes,
    *,
    sha256: str,
    actor: tuple[int, str],
    family_id: str,
    idempotency: tuple[str, str] | None,
    viewer: tuple[str, str | None],
    shape: Callable[[Photo], dict[str, Any]],
    room_hint: str | None = None,
) -> Answer | None:
    """The answer to bytes (`data`, of `sha256`) the family already has, without decoding or
    scoring them: 200, the filed photo's record, audited as `record_upload` audits it, the
    `room_hint` sent told as not taken where the photo has another. None when the family has
    no photo of these bytes: the route analyses and files them.

    The bytes are stored again first, as an upload of them always did: an original lost or
    damaged in the store is whole again. Reuse shows as for GET /photos/{id}: the index's
    verdict on the filed photo's hashes (checked before the transaction: verification reads
    stored photos), uploads in flight included as in an upload's own answer, and its links;
    the photos filed before it that it repeats, as the assessment reads them (`filed_repeats`)."""
    with session_scope(services.readers) as session:
        known = filed_photo(session, family_id=family_id, sha256=sha256)
        hashes_hex = known.perceptual_hash if known is not None else None
    if known is None:
        return None
    services.store.put(data)
    found: list[ReuseMatch] = []
    if services.reuse is not None and hashes_hex is not None:
        found = services.reuse.verified(
            hashes_hex, family_id=family_id, sha256=sha256, in_flight=True
        )
    repeats = filed_repeats(services, known)

    def file(session: Session) -> Filed | None:
        lock_family(session, family_id)  # as record_upload: one filing of the family at a time
        existing = filed_photo(session, family_id=family_id, sha256=sha256)
        if existing is None:  # photos are not deleted; were it gone, the upload files it anew
            return None
        matches = _merged(found, _same_bytes(session, family_id=family_id, sha256=sha256))
        return _filed_again(
            session, services.signing_key, existing, actor=actor, matches=matches,
            repeats=repeats, room_hint=room_hint,
        )  # fmt: skip

    answered = _answer(
        services, file, actor=actor, idempotency=idempotency, viewer=viewer, shape=shape
    )
    return answered[0] if answered is not None else None


def record_request(
    services: Services,
    *,
    actor: tuple[int, str],
    family_id: str,
    region: str,
    analysis: Analysis,
    score: PhotoScore | None,
    room_hint: str | None,
    size_bytes: int,
    idempotency: tuple[str, str] | None,
    viewer: tuple[str, str | None],
    shape: Callable[[Photo], dict[str, Any]],
) -> Answer:
    """File the photo and answer (201 new, 200 already filed, or the key's stored answer).

    The photo is registered in the reuse index as in flight before its own check, so a
    simultaneous upload of the same photo for another family whose check runs later is
    flagged at once (ReuseIndex.in_flight). The check runs before the transaction
    (verification reads stored photos: never while holding the database); the photo becomes
    an indexed one only after the commit, and a failed commit leaves nothing behind in it.
    The answer shows the matches, and other families' photos of the same bytes, as `viewer`
    (role, region) may see them; the row links all of them (`record_upload`). It names the
    family's photos the upload repeats (`repeats_of`, on its pixels), filed all the same: the
    inspector may have meant it. Lost races are retried (`_answer`).
    """
    reuse = services.reuse
    hashes_hex = analysis.photo_hashes.to_hex() if reuse is not None else None
    flight: AbstractContextManager[InFlight | None] = nullcontext()
    if reuse is not None and hashes_hex is not None:
        flight = reuse.in_flight(
            hashes_hex, family_id=family_id, region=region, sha256=analysis.decoded.sha256,
            pixels=analysis.decoded.pixels,
        )  # fmt: skip
    with flight as token:
        found: list[ReuseMatch] = []
        if reuse is not None and hashes_hex is not None:
            found = reuse.verified(
                hashes_hex, family_id=family_id, sha256=analysis.decoded.sha256,
                pixels=analysis.decoded.pixels, in_flight=True,
            )  # fmt: skip
        flags = PhotoFlags(quality_status=analysis.quality.status, reused=bool(found))
        repeats = repeats_of(
            services, family_id, hex_hash=hashes_hex, sha256=analysis.decoded.sha256,
            score=score, flags=flags, pixels=analysis.decoded.pixels,
        )  # fmt: skip

        def file(session: Session) -> Filed:
            return record_upload(
                session, services.signing_key, family_id=family_id, actor=actor,
                analysis=analysis, score=score, room_hint=room_hint, size_bytes=size_bytes,
                hashes_hex=hashes_hex, reused_with=found, repeats=repeats,
            )  # fmt: skip

        answered = _answer(
            services, file, actor=actor, idempotency=idempotency, viewer=viewer, shape=shape
        )
        assert answered is not None  # record_upload always files or finds the photo
        answer, filed = answered
        if reuse is not None and token is not None and filed is not None and filed.created:
            reuse.commit(token, answer[1]["photo_id"])
        return answer
