"""`shanyraq score`: score photos with a model artifact and print one line (or JSON) per photo,
each batch as soon as it is scored."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Score photos with a model artifact.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Keeps `score` a named subcommand when this app is run on its own (tests)."""


SIGN_SHOWN = 0.5  # a sign is listed in the table (and explained) from this probability
PROGRESS_FROM = 4  # photos: fewer are scored before a progress bar would be worth reading
STEM_BYTES = 120  # of a photo's name in its heat maps' names, under 255 with what follows


def _heatmap_prefix(photo: str, sha256: str) -> str:
    """What every heat-map file of this photo is named from: its name, then its content hash.

    The hash keeps a/room.jpg and b/room.jpg apart (the same bytes: the same maps). The name is
    cut to STEM_BYTES, so a photo named near the file system's 255-byte limit (a long Cyrillic
    name is two bytes a letter) still gets its maps.
    """
    stem = Path(photo).stem.encode()[:STEM_BYTES].decode(errors="ignore")
    return f"{stem}-{sha256[:8]}-"


def _heatmaps(model: Path, photo: Path, image: Any, score: Any, out_dir: Path) -> list[str]:
    from vision.explain import heatmap, overlay_png

    targets: list[tuple[Any, str]] = [("room", score.top_room)]
    targets += [("signs", name) for name, p in score.signs.items() if p >= SIGN_SHOWN]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    rgb = image.pixels
    prefix = _heatmap_prefix(str(photo), image.sha256)
    for head, label in targets:
        path = out_dir / f"{prefix}{head}-{label}.png"
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
    rooms, grades = score["room"], score["condition"]
    # null: the model gave no number (PhotoScore.to_dict); the line shows "-", not a guess.
    top_room = max(rooms, key=rooms.get) if None not in rooms.values() else None
    condition = sum(int(g) * p for g, p in grades.items()) if None not in grades.values() else None
    signs = [name for name, p in score["signs"].items() if p is not None and p >= SIGN_SHOWN]
    parts = [
        f"{record['photo']}:",
        f"room {top_room} ({rooms[top_room]:.2f})" if top_room is not None else "room -",
        f"condition {condition:.1f}" if condition is not None else "condition -",
        f"signs {', '.join(signs) or '-'}",
        f"quality {quality['status']}"
        + (f" ({', '.join(quality['reasons'])})" * bool(quality["reasons"])),
    ]
    if score["abstain"]:
        parts.append(f"ABSTAIN ({', '.join(score['abstain_reasons'])})")
    if record["duplicate_of"]:
        parts.append(f"DUPLICATE of {', '.join(record['duplicate_of'])}")
    if record.get("heatmaps"):  # last: the pattern may hold spaces
        folder = Path(record["heatmaps"][0]).parent
        parts.append(f"heat maps {folder / _heatmap_prefix(record['photo'], record['sha256'])}*")
    return "  ".join(parts)


def _heatmap_folder(out_dir: Path) -> None:
    """Refuse an --explain-dir heat maps cannot be written to, before any photo is scored."""
    from shanyraq.errors import OutputPathError

    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError(
            f"--explain-dir {out_dir} is a file; --explain writes its heat maps into a folder: "
            "give a folder (it is made if missing)"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        files = [p for p in out_dir.parents if p.exists() and not p.is_dir()]
        reason = f"{files[0]} is a file" if files else exc.strerror or type(exc).__name__
        raise OutputPathError(
            f"--explain-dir {out_dir}: heat maps cannot be written there ({reason}); "
            "give a folder you can write to"
        ) from None


class _Scoring:
    """Scores photos a batch at a time; duplicates are looked up among the photos before."""

    def __init__(self, model: Path, *, explain_dir: Path | None) -> None:
        from shanyraq.config import get_settings
        from shanyraq.errors import ModelMismatchError
        from vision.engine import Engine, get_engine_config
        from vision.hashing import HashIndex

        self.config = get_engine_config()
        try:
            self.engine = Engine.load(model, config=self.config, alone=True)
        except ModelMismatchError as exc:  # "model test-0 was trained on ...": which folder?
            if str(model) in exc.message:
                raise
            raise ModelMismatchError(f"--model {model}: {exc.message}") from None
        self.model, self.explain_dir = model, explain_dir
        self.target = self.config.decode_side_for(self.engine.artifact.preprocessing.size)
        self.max_pixels = get_settings().io.max_pixels
        self.max_bytes = get_settings().io.max_bytes  # the upload limit: never read past it
        self.index = HashIndex()
        if explain_dir is not None:  # a missing or damaged model.pt, said before any photo
            from vision.explain import heatmap_model

            heatmap_model(model)

    def _decode(self, photo: Path) -> tuple[dict[str, Any], Any]:
        """The photo's record so far and its decoded image (None: not decodable)."""
        from vision.hashing import perceptual_hash
        from vision.io import decode_file
        from vision.quality import UNIFORM, assess_quality

        try:
            image = decode_file(
                photo, max_pixels=self.max_pixels, target_size=self.target, max_bytes=self.max_bytes
            )
        except Exception as exc:  # one bad file must not cost the others
            why = getattr(exc, "message", None) or _os_reason(exc) or f"{type(exc).__name__}: {exc}"
            return {"photo": str(photo), "error": why}, None
        verdict = assess_quality(
            image.pixels, config=self.config.quality, original_size=image.original_size
        )
        photo_hash = perceptual_hash(image.pixels)
        hits: list[tuple[str, int]] = []
        if UNIFORM not in verdict.reasons and photo_hash.informative:
            hits = self.index.query(photo_hash, radius=self.config.hashing.reuse_radius)
            self.index.add(str(photo), photo_hash)
        record = {
            "photo": str(photo),
            "sha256": image.sha256,
            "quality": verdict,
            "duplicate_of": [hit for hit, _ in hits],
            "hash": photo_hash.to_hex(),
        }
        return record, image

    def batch(self, photos: list[Path], progress: Any) -> list[dict[str, Any]]:
        """One finished record per photo, in order (one model call for the decodable ones)."""
        progress.set_postfix_str("decoding")
        decoded = [(photo, *self._decode(photo)) for photo in photos]
        scored = [(photo, record, image) for photo, record, image in decoded if image is not None]
        progress.set_postfix_str("model")
        scores = self.engine.score(
            [image.pixels for _, _, image in scored],
            sha256s=[image.sha256 for _, _, image in scored],
            quality=[record["quality"] for _, record, _ in scored],
        )
        for (photo, record, image), photo_score in zip(scored, scores, strict=True):
            record["quality"] = record["quality"].to_dict()
            record["score"] = photo_score.to_dict()
            if self.explain_dir is not None:
                record["heatmaps"] = _heatmaps(
                    self.model, photo, image, photo_score, self.explain_dir
                )
        return [record for _, record, _ in decoded]

    def batches(self, photos: list[Path]) -> Iterator[list[Path]]:
        step = self.config.max_photos_per_call
        for start in range(0, len(photos), step):
            yield photos[start : start + step]


def _interrupted(photos: list[Path], done: int) -> str:
    """What Ctrl-C left: the photos printed, and where to start again."""
    printed = f"stopped by Ctrl-C after {done} of {len(photos)} photo(s), whose lines are printed"
    if done == len(photos):
        return f"{printed}: every photo was scored"
    left = len(photos) - done
    return f"{printed}; {left} not scored, from {photos[done]} on: score those to finish"


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

    Lines come in the order given, a batch at a time (engine.yaml max_photos_per_call
    photos), as soon as the batch is scored; after Ctrl-C the lines printed are complete.
    A photo is called a duplicate of the photos before it in the list, judged on the
    perceptual hash alone, so each line is final when printed; a blank frame (the quality
    gate's `uniform`) or one whose hash has no structure is never called anyone's duplicate.

    Exit status: 0 every photo scored; 1 some photo not scored (its line says why, the others
    are scored); 2 nothing scored: the model or --explain-dir refused (one `error [code]:`
    line); 130 Ctrl-C (the lines printed are complete).
    """
    from tqdm import tqdm

    from shanyraq.errors import Interrupted

    if explain:
        _heatmap_folder(explain_dir)
    scoring = _Scoring(model, explain_dir=explain_dir if explain else None)
    done, failed = 0, False
    progress = tqdm(
        total=len(photos), desc="scoring", unit="photo", disable=len(photos) < PROGRESS_FROM
    )
    try:
        with progress:
            for batch in scoring.batches(photos):
                records = scoring.batch(batch, progress)
                lines = [json.dumps(r) if as_json else _table_line(r) for r in records]
                with progress.external_write_mode():  # the bar steps aside for the lines
                    typer.echo("\n".join(lines))  # flushed: a pipe gets them now
                done += len(records)
                failed = failed or any("error" in r for r in records)
                progress.set_postfix_str("", refresh=False)
                progress.update(len(records))
    except KeyboardInterrupt:
        raise Interrupted(_interrupted(photos, done)) from None
    if failed:
        raise typer.Exit(1)
