"""`shanyraq rescore`: score every stored photo under a new model, resumably. Thin CLI layer."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from serving.rescore import RescoreReport


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD") from None
    return day.replace(tzinfo=UTC)


def rescore(
    model: Annotated[
        Path,
        typer.Option(
            "--model", exists=True, file_okay=False, help="Model artifact folder to score with."
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(help="Only photos uploaded on or after this date (YYYY-MM-DD, UTC)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Photos per batch.")] = 256,
    device: Annotated[
        DeviceChoice, typer.Option(help="auto: the GPU path when usable, else the CPU.")
    ] = DeviceChoice.auto,
    config: Annotated[
        Path | None, typer.Option(help="serving.yaml to use (default: configs/).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Re-score stored photos under a new model; run it again after a crash to resume.

    New scores are written under the new model version; the old scores are kept.
    """
    from serving import audit
    from serving.core.config import get_settings, load_serving_settings
    from serving.db.session import make_engine, make_session_factory, session_scope
    from serving.migrations import upgrade
    from serving.rescore import rescore as run_rescore
    from serving.storage import PhotoStore
    from shanyraq.config import get_settings as get_shanyraq_settings
    from vision.bulk import open_scorer
    from vision.engine import get_engine_config

    settings = load_serving_settings(config) if config else get_settings()
    when = _parse_since(since)
    upgrade(settings.resolved_database_url)
    db_engine = make_engine(settings.resolved_database_url)
    scorer = open_scorer(
        model, prefer=device.value, max_pixels=get_shanyraq_settings().io.max_pixels,
        decode_short_side=get_engine_config().decode_short_side_px,
    )  # fmt: skip
    typer.echo(f"scoring with model {scorer.model_version} on the {scorer.name} path")
    report = run_rescore(
        db_engine, PhotoStore(settings.store_dir), scorer, since=when, batch_size=batch_size,
        progress=progress,
    )  # fmt: skip
    with session_scope(make_session_factory(db_engine)) as session:
        audit.append(
            session, settings.signing_key(), actor="cli", action="photos_rescored",
            target=f"model:{report.model_version}",
            details={"run_id": report.run_id, "since": since, "scored": report.scored,
                     "failed": report.failed, "complete": report.complete},
        )  # fmt: skip
    for line in report_lines(report):
        typer.echo(line)


def report_lines(report: RescoreReport) -> list[str]:
    """The final report, in plain words."""
    state = "complete" if report.complete else "INCOMPLETE (run the command again to resume)"
    lines = [
        f"re-scoring run {report.run_id} under {report.model_version}: {state}",
        f"  photos in scope: {report.in_scope}; scored: {report.scored}; "
        f"without a score (reason recorded): {report.failed}",
        f"  this session: {report.this_session} photo(s) in {report.seconds:.1f} s "
        f"({report.photos_per_s:.1f} photos/s) on the {report.scorer} path"
        + (", resumed from an earlier session" if report.resumed else ""),
    ]
    lines += [f"  photo {photo_id}: {why}" for photo_id, why in report.failures[:10]]
    return lines
