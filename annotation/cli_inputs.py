"""What `shanyraq annotate push` and `select` read and check before they ask anything of
Label Studio: the scores (from a model, or a scores file), where they came from, and the
output files a selection writes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from vision.score import PhotoScore


def scores_source_record(
    model: Path | None, scores: Path | None, used: list[PhotoScore]
) -> dict[str, object]:
    """Where `load_scores` got the scores `used`, for the selection record."""
    from shanyraq.manifest import sha256_file

    if scores is not None:
        source: dict[str, object] = {
            "from": "scores_file", "path": str(scores.resolve()), "sha256": sha256_file(scores),
        }  # fmt: skip
    elif model is not None:
        source = {
            "from": "model",
            "model_dir": str(model.resolve()),
            "model_json_sha256": sha256_file(model / "model.json"),
        }
    else:
        source = {"from": "none"}
    return {**source, "model_versions": sorted({s.model_version for s in used})}


def one_scores_option(model: Path | None, scores: Path | None) -> None:
    if model is not None and scores is not None:
        raise typer.BadParameter(
            "give --model DIR or --scores FILE, not both: the scores come from one of them"
        )


def load_scores(
    manifest_path: Path, model: Path | None, scores: Path | None, *, need_embeddings: bool = False
) -> dict[str, PhotoScore]:
    """sha256 -> score: read from `scores`, else of the manifest's photos scored by `model`,
    else none."""
    from annotation.scoring import read_scores, score_manifest
    from shanyraq.manifest import read_manifest
    from shanyraq.taxonomy import get_taxonomy

    if scores is not None:
        return read_scores(scores, taxonomy=get_taxonomy(), need_embeddings=need_embeddings)
    if model is not None:
        return score_manifest(read_manifest(manifest_path), model)
    return {}


def check_outputs(
    out: Path, record: Path, *, manifest: Path, scores: Path | None, overwrite: bool
) -> None:
    """Refuse, before scoring, an --out that cannot take the picks, would replace the pool or
    the scores, or (without --overwrite) would replace an earlier selection or another file."""
    from shanyraq.errors import InputFileError, OutputExistsError
    from shanyraq.outputs import check_new_output_file

    for path in (out, record):
        if path.is_dir():
            raise InputFileError(
                f"{path} is a folder; --out names the manifest file to write (its record goes "
                f"beside it as {record.name}): choose another --out"
            )
    if out.resolve() == manifest.resolve():
        raise InputFileError(
            f"--out {out} is the pool manifest itself, which the picks would replace; choose "
            "another file"
        )
    inputs = [manifest] if scores is None else [manifest, scores]
    for path, option in ((out, "--out"), (record, "the selection record")):
        try:
            check_new_output_file(path, overwrite=overwrite, inputs=inputs, option=option)
        except OutputExistsError:
            raise OutputExistsError(
                f"{path} exists (--out {out} writes the picks there and their record to "
                f"{record.name}); choose another --out, or pass --overwrite to replace both"
            ) from None
