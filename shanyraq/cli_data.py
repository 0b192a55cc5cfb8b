"""`shanyraq data`: check dataset manifests and make family-grouped splits."""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from shanyraq.manifest import SPLITS, ManifestRow

app = typer.Typer(help="Dataset manifests: check them, split them by family.", no_args_is_help=True)

FRACTIONS_EXAMPLE = "0.7,0.15,0.15"
_SUM_TOLERANCE = 1e-6  # "0.7,0.2,0.1" adds up to 0.9999999999999999 in floating point
_LINES_SHOWN = 10


@app.command("check")
def check(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV to check.")],
    no_hashes: Annotated[bool, typer.Option("--no-hashes", help="Skip sha256 checks.")] = False,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="A progress bar (default: on a terminal)."),
    ] = None,
) -> None:
    """Report missing files, absolute paths, hash mismatches, unknown labels and split leaks
    (exit 1 if any).

    A manifest with no rows is an error (exit 2): there is nothing in it to call clean.
    """
    from shanyraq.manifest_check import check_manifest
    from shanyraq.taxonomy import get_taxonomy

    # One read of the manifest; one without rows is refused there (ManifestError).
    problems = check_manifest(
        manifest, get_taxonomy(), verify_hashes=not no_hashes,
        progress=sys.stderr.isatty() if progress is None else progress,
    )  # fmt: skip
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        kinds = Counter(p.kind for p in problems)
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        typer.echo(f"{manifest}: {len(problems)} problem(s): {summary}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{manifest}: clean")


@app.command("split")
def split(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV to split.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the split manifest.")],
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same split.")] = 0,
    fractions: Annotated[
        str, typer.Option(help="train,val,test fractions, summing to 1.")
    ] = FRACTIONS_EXAMPLE,
    by: Annotated[str, typer.Option(help="Stratify by 'condition' or 'room'.")] = "condition",
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an existing --out (never the input manifest)."),
    ] = False,
) -> None:
    """Assign train/val/test by family (never by photo), stratified by a label.

    Every row needs a family_id: splitting by family is what keeps a home's photos out of
    both train and test.
    """
    from shanyraq.errors import ManifestError, OutputExistsError
    from shanyraq.manifest import read_manifest, rebased, write_manifest
    from shanyraq.outputs import check_new_output_file
    from shanyraq.splits import same_family, split_rows

    parts = parse_fractions(fractions)
    check_new_output_file(out, overwrite=overwrite, inputs=[manifest])
    data = read_manifest(manifest)
    if not data.rows:
        raise ManifestError(f"{manifest} has no rows; there is nothing to split")
    check_families(data.rows, manifest)
    try:
        rows = split_rows(data.rows, fractions=parts, by=by, seed=seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    # Row paths stay valid: they are rewritten relative to the new manifest's folder.
    rows = rebased(rows, data.root, out)
    try:  # checked before reading; without --overwrite a file made there meanwhile is kept
        write_manifest(out, rows, replace=overwrite)
    except FileExistsError:
        raise OutputExistsError(
            f"{out} appeared while the manifest was split and is kept; choose another --out, "
            "or pass --overwrite to replace it"
        ) from None
    photos = Counter(r.split for r in rows)
    families = Counter(split for _, split in {(same_family(r.family_id), r.split) for r in rows})
    for name in SPLITS:
        typer.echo(f"{name:5s}: {photos[name]:6d} photos, {families[name]:5d} families")


def parse_fractions(text: str) -> list[float]:
    """The train, val and test fractions of `--fractions`: finite, not negative, summing to 1
    (a sum of 1.2 is refused, not rescaled: the split would not be the one asked for)."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"fractions must be numbers, e.g. {FRACTIONS_EXAMPLE}") from None
    if len(parts) != len(SPLITS):
        raise typer.BadParameter(
            f"give {len(SPLITS)} fractions ({','.join(SPLITS)}), e.g. {FRACTIONS_EXAMPLE}; "
            f"got {len(parts)}"
        )
    if not all(math.isfinite(p) and p >= 0 for p in parts):
        raise typer.BadParameter(
            f"fractions must be finite numbers from 0 to 1, e.g. {FRACTIONS_EXAMPLE}; got {text}"
        )
    total = sum(parts)
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise typer.BadParameter(
            f"the fractions {text} sum to {total:g}, not 1; give the share of each split, "
            f"e.g. {FRACTIONS_EXAMPLE}"
        )
    return parts


def check_families(rows: Sequence[ManifestRow], manifest: Path) -> None:
    """Refuse rows without a family_id: they would all be split as one family, and a home's
    photos could land in both train and test (the leak the family split guards against)."""
    from shanyraq.errors import ManifestError
    from shanyraq.manifest_check import record_lines

    empty = [i for i, row in enumerate(rows) if not row.family_id.strip()]
    if not empty:
        return
    # As an editor shows them: blank lines and cells holding line breaks count.
    line_of = record_lines(manifest, len(rows))
    lines = [line_of[i] for i in empty]
    shown = ", ".join(map(str, lines[:_LINES_SHOWN]))
    more = f" and {len(lines) - _LINES_SHOWN} more" if len(lines) > _LINES_SHOWN else ""
    raise ManifestError(
        f"{manifest}: {len(lines)} row(s) have no family_id (line {shown}{more}); the split is "
        "by family, so fill in each photo's family (the home it was taken in) and split again"
    )
