"""`shanyraq score`: score photos with a model artifact and print one line (or JSON) per photo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Score photos with a model artifact.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Keeps `score` a named subcommand when this app is run on its own (tests)."""


SIGN_SHOWN = 0.5  # a sign is listed in the table (and explained) from this probability


def _heatmaps(model: Path, photo: Path, image: Any, score: Any, out_dir: Path) -> list[str]:
    from vision.explain import heatmap, overlay_png

    targets: list[tuple[Any, str]] = [("room", score.top_room)]
    targets += [("signs", name) for name, p in score.signs.items() if p >= SIGN_SHOWN]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    rgb = image.pixels
    for head, label in targets:
        # The content hash keeps a/room.jpg and b/room.jpg apart (the same bytes: the same maps).
        path = out_dir / f"{photo.stem}-{image.sha256[:8]}-{head}-{label}.png"
        path.write_bytes(overlay_png(rgb, heatmap(model, rgb, head=head, label=label)))
        written.append(str(path))
    return written


def _os_reason(exc: Exception) -> str | None:
    """A missing or unreadable file in words (not an errno repr), else None."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a photo"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read the file ({exc.strerror})"
    return None


def _table_line(record: dict[str, Any]) -> str:
    if "error" in record:
        return f"{record['photo']}: not scored: {record['error']}"
    score, quality = record["score"], record["quality"]
    top_room = max(score["room"], key=score["room"].get)
    condition = sum(int(g) * p for g, p in score["condition"].items())
    signs = [name for name, p in score["signs"].items() if p >= SIGN_SHOWN]
    parts = [
        f"{record['photo']}:",
        f"room {top_room} ({score['room'][top_room]:.2f})",
        f"condition {condition:.1f}",
        f"signs {', '.join(signs) or '-'}",
        f"quality {quality['status']}"
        + (f" ({', '.join(quality['reasons'])})" * bool(quality["reasons"])),
    ]
    if score["abstain"]:
        parts.append(f"ABSTAIN ({', '.join(score['abstain_reasons'])})")
    if record["duplicate_of"]:
        parts.append(f"DUPLICATE of {', '.join(record['duplicate_of'])}")
    return "  ".join(parts)


@app.command("score")
def score(
    photos: Annotated[
        list[Path],
        typer.Argument(
            help="Photos to score (JPEG, PNG, WebP, HEIC; AVIF where Pillow decodes it)."
        ),
    ],
    model: Annotated[Path, typer.Option("--model", help="Model artifact folder.")],
    explain: Annotated[
        bool, typer.Option("--explain", help="Write heat-map overlays (top room, signs).")
    ] = False,
    explain_dir: Annotated[
        Path, typer.Option("--explain-dir", help="Where --explain writes PNGs.")
    ] = Path("heatmaps"),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Scores, quality verdict, abstain flag and duplicates among the given photos.

    Duplicates are judged on the perceptual hash alone; a blank frame (the quality gate's
    `uniform`) or one whose hash has no structure is never called anyone's duplicate.
    """
    from tqdm import tqdm

    from shanyraq.config import get_settings
    from vision.engine import Engine, get_engine_config
    from vision.hashing import HashIndex, perceptual_hash
    from vision.io import decode_file
    from vision.quality import UNIFORM, assess_quality

    config = get_engine_config()
    engine = Engine.load(model, config=config, alone=True)
    target = config.decode_side_for(engine.artifact.preprocessing.size)
    index = HashIndex()
    records: list[dict[str, Any]] = []
    decoded: list[tuple[Path, Any, dict[str, Any]]] = []
    for photo in tqdm(photos, desc="decoding", unit="photo", disable=len(photos) < 4):
        try:
            image = decode_file(photo, max_pixels=get_settings().io.max_pixels, target_size=target)
        except Exception as exc:  # one bad file must not cost the others
            why = getattr(exc, "message", None) or _os_reason(exc) or f"{type(exc).__name__}: {exc}"
            records.append({"photo": str(photo), "error": why})
            continue
        verdict = assess_quality(
            image.pixels, config=config.quality, original_size=image.original_size
        )
        photo_hash = perceptual_hash(image.pixels)
        hits: list[tuple[str, int]] = []
        if UNIFORM not in verdict.reasons and photo_hash.informative:
            hits = index.query(photo_hash, radius=config.hashing.reuse_radius)
            index.add(str(photo), photo_hash)
        records.append(
            {
                "photo": str(photo),
                "sha256": image.sha256,
                "quality": verdict,
                "duplicate_of": [hit for hit, _ in hits],
                "hash": photo_hash.to_hex(),
            }
        )
        decoded.append((photo, image, records[-1]))
    scores = engine.score(
        [image.pixels for _, image, _ in decoded],
        sha256s=[image.sha256 for _, image, _ in decoded],
        quality=[record["quality"] for _, _, record in decoded],
    )
    for (photo, image, record), photo_score in zip(decoded, scores, strict=True):
        record["quality"] = record["quality"].to_dict()
        record["score"] = photo_score.to_dict()
        if explain:
            record["heatmaps"] = _heatmaps(model, photo, image, photo_score, explain_dir)
    for record in records:
        typer.echo(json.dumps(record) if as_json else _table_line(record))
    if any("error" in r for r in records):
        raise typer.Exit(1)
