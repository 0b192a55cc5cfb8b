"""How the Ray pipeline (serving/rescore_ray.py) opens its run, as `rescore` opens its own.

The run of (model version, --since) is made or checked (`open_run`, under the pipeline's key,
RAY_KEY); the store-damage outcomes of its scope whose originals read intact again are
discarded (`retry_restored`), on request the other outcomes without a score too
(`retry_failed`); and a finished run is reopened, marked running, for those and for the photos
filed since (`reopen_for_uncovered`), all in the order and transactions serving/rescore.py
uses, so that a refusal to reopen rolls the discard of failures back with it. Such a refusal
counts the outcomes a discard deletes as they were before that discard (`note_held`), and names
the call as it was made, retry_failed=True too, whether its photos restored to the store, its
failures or photos filed since reopen the run (`retry_restored`'s and `reopen_for_uncovered`'s
`retry_failed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from serving.db.models import Photo, RescoreRun
from serving.db.session import session_scope
from serving.rescore_photos import (
    not_yet_scored,
    photo_scope,
    reopen_for_uncovered,
    retry_failed,
    retry_restored,
)
from serving.rescore_provenance import RunProvenance, actors_scorer
from serving.rescore_runs import note_held, open_run, since_key_of
from serving.storage import PhotoStore


@dataclass(frozen=True)
class OpenedRun:
    run_id: int
    restored: int  # photos restored to the store whose damage outcomes this call discarded
    retried: int  # outcomes without a score this call discarded to score again
    to_read: int  # photos in scope with no outcome yet, for the actors to score
    scorer: str  # the scorer record its actors must match (`actors_scorer`)


def open_pipeline_run(
    sessions: sessionmaker[Session],
    store: PhotoStore,
    model_version: str,
    since: datetime | None,
    provenance: RunProvenance,
    *,
    retry: bool = False,
) -> OpenedRun:
    """The pipeline's run of `since` made or checked, as `rescore` opens its run: the damage
    outcomes of its scope whose files are restored discarded (`retry_restored`, which reads
    them in no transaction); with `retry`, its scope's other outcomes without a score too,
    whichever run recorded them (`retry_failed`), in the transaction that then reopens a
    finished run, marked running, for those and the photos filed since
    (`reopen_for_uncovered`), both under the provenance it recorded (a refusal rolls that
    discard back). A run that stays finished reads nothing: a photo scored by the model from
    its upload needs none."""
    with session_scope(sessions) as session:
        run, _ = open_run(session, model_version, since_key_of(since, ray=True), provenance,
                          restart=False)  # fmt: skip
    restored = retry_restored(sessions, run, store, provenance, since, retry_failed=retry)
    with session_scope(sessions) as session:
        run = session.get_one(RescoreRun, run.id)  # as the write lock finds it
        retried = 0
        if retry:
            note_held(session, model_version)  # a refusal counts what a discard deletes
            retried = retry_failed(session, run, since, provenance)
        reopen_for_uncovered(session, run, since, provenance, retry_failed=retry)
        to_read = 0
        if run.status != "done":
            to_read = session.scalar(
                select(func.count(Photo.id)).where(
                    *photo_scope(since), not_yet_scored(model_version)
                )
            ) or 0  # fmt: skip
        scorer = actors_scorer(session, run, provenance)
        return OpenedRun(run.id, restored, retried, to_read, scorer)
