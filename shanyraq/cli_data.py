"""`shanyraq data`: check dataset manifests and make family-grouped splits."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from shanyraq.manifest import ManifestRow

app = typer.Typer(help="Dataset manifests: check them, split them by family.", no_args_is_help=True)


@app.command("check")
def check(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV to check.")],
    no_hashes: Annotated[bool, typer.Option("--no-hashes", help="Skip sha256 checks.")] = False,
) -> None:
    """Report missing files, hash mismatches, unknown labels and split leaks (exit 1 if any)."""
    from shanyraq.manifest_check import check_manifest
    from shanyraq.taxonomy import get_taxonomy

    problems = check_manifest(manifest, get_taxonomy(), verify_hashes=not no_hashes)
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
    seed: Annotated[int, typer.Option(help="Same seed, same split.")] = 0,
    fractions: Annotated[str, typer.Option(help="train,val,test fractions.")] = "0.7,0.15,0.15",
    by: Annotated[str, typer.Option(help="Stratify by 'condition' or 'room'.")] = "condition",
) -> None:
    """Assign train/val/test by family (never by photo), stratified by a label."""
    from shanyraq.errors import ManifestError
    from shanyraq.manifest import read_manifest, write_manifest
    from shanyraq.splits import split_rows

    try:
        parts = [float(x) for x in fractions.split(",")]
    except ValueError:
        raise typer.BadParameter("fractions must be numbers, e.g. 0.7,0.15,0.15") from None
    data = read_manifest(manifest)
    if not data.rows:
        raise ManifestError(f"{manifest} has no rows; there is nothing to split")
    try:
        rows = split_rows(data.rows, fractions=parts, by=by, seed=seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    # Row paths stay valid: they are rewritten relative to the new manifest's folder.
    rows = [_rebase(r, data.root, out.resolve().parent) for r in rows]
    write_manifest(out, rows)
    photos = Counter(r.split for r in rows)
    families = Counter(split for _, split in {(r.family_id, r.split) for r in rows})
    for name in ("train", "val", "test"):
        typer.echo(f"{name:5s}: {photos[name]:6d} photos, {families[name]:5d} families")


def _rebase(row: ManifestRow, old_root: Path, new_root: Path) -> ManifestRow:
    absolute = (old_root / row.path).resolve()
    return replace(row, path=os.path.relpath(absolute, new_root))
