"""`shanyraq synth`: make synthetic photos and families, and a contact sheet to look at them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Synthetic housing photos and families with labels known by construction.",
    no_args_is_help=True,
)

_N = typer.Option("--n", min=1, help="How many to make.")
_OUT = typer.Option("--out", help="Output folder (created if missing).")
_SEED = typer.Option(min=0, help="Same seed, same bytes.")
_SIZE = typer.Option(min=32, max=2048, help="Photo side in pixels.")
_OVERWRITE = typer.Option(
    "--overwrite",
    help=(
        "Replace the generated set already in --out (photos/, manifest.csv, families.csv, "
        "synth.json; other files stay). Without it a non-empty --out is refused unless it "
        "holds the same generation (same n, seed, size and configs)."
    ),
)


@app.command("photos")
def photos(
    n: Annotated[int, _N],
    out: Annotated[Path, _OUT],
    seed: Annotated[int, _SEED] = 0,
    size: Annotated[int, _SIZE] = 256,
    overwrite: Annotated[bool, _OVERWRITE] = False,
) -> None:
    """Render N labelled photos of rooms, exteriors and not-a-home frames, with a manifest.

    The set is written to a staging folder inside --out and swapped in when complete: a
    failed or interrupted run (Ctrl-C or SIGTERM) leaves --out as it was. One run at a time
    writes into an --out: a second is refused (output_busy).
    """
    from shanyraq.manifest import read_manifest
    from training.synth.photos import generate_photos

    manifest = generate_photos(n, out, seed=seed, size=size, progress=True, overwrite=overwrite)
    written = len(read_manifest(manifest).rows)
    left_out = f" ({n - written} the generator could not draw left out)" if written < n else ""
    typer.echo(f"wrote {written} photos{left_out}; manifest: {manifest}")


@app.command("families")
def families(
    n: Annotated[int, _N],
    out: Annotated[Path, _OUT],
    seed: Annotated[int, _SEED] = 0,
    size: Annotated[int, _SIZE] = 256,
    no_photos: Annotated[
        bool, typer.Option("--no-photos", help="Write the family table only, no pixels.")
    ] = False,
    overwrite: Annotated[bool, _OVERWRITE] = False,
) -> None:
    """Make N families: a family table (23 criteria) and their photos with a manifest.

    The table, photos and manifest are written to a staging folder inside --out and swapped
    in together, so they always describe the same families (--no-photos removes an earlier
    photos/ and manifest.csv).
    """
    from training.synth.families import generate_families, write_families

    planned = generate_families(n, seed=seed)
    table = write_families(
        planned,
        out,
        seed=seed,
        render=not no_photos,
        size=size,
        progress=True,
        overwrite=overwrite,
    )
    cases = planned.table["case"].value_counts().sort_index()
    typer.echo(f"wrote {n} families ({', '.join(f'{k}: {v}' for k, v in cases.items())})")
    typer.echo(f"family table: {table}")
    if not no_photos:
        from shanyraq.manifest import read_manifest

        written = len(read_manifest(table.parent / "manifest.csv").rows)
        left_out = len(planned.photos) - written
        note = f", {left_out} the generator could not draw left out" if left_out else ""
        typer.echo(f"manifest: {table.parent / 'manifest.csv'} ({written} photos{note})")


@app.command("sheet")
def sheet(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV of the photos to show.")],
    out: Annotated[Path, typer.Option("--out", help="PNG to write (a .png name).")],
    columns: Annotated[int, typer.Option(min=1, max=20)] = 6,
    rows: Annotated[int, typer.Option(min=1, max=20)] = 4,
    thumb: Annotated[int, typer.Option(min=32, max=512, help="Thumbnail side, px.")] = 128,
    seed: Annotated[int, _SEED] = 0,
    colours: Annotated[
        int, typer.Option(min=0, max=256, help="Palette size for a small PNG (0 = full colour).")
    ] = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.")
    ] = False,
) -> None:
    """A contact sheet: a grid of photos, each captioned with room, grade and signs."""
    from training.synth.sheet import contact_sheet

    path = contact_sheet(
        manifest,
        out,
        columns=columns,
        rows=rows,
        thumb=thumb,
        seed=seed,
        colours=colours,
        overwrite=overwrite,
    )
    typer.echo(f"contact sheet: {path}")
