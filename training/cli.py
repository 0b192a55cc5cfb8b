"""`shanyraq train`, `shanyraq evaluate` and `shanyraq export`: parse, call training, print.

Heavy libraries (torch, timm, onnxruntime) are imported inside the commands so that
`shanyraq --help` stays instant.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Annotated, Literal

import typer

app = typer.Typer(help="Train, evaluate and export the photo classifier.", no_args_is_help=True)

_QUIET_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx", "timm")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s"
    )
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@app.command("train")
def train(
    config: Annotated[Path, typer.Argument(help="Recipe YAML, e.g. configs/train/demo.yaml.")],
    resume: Annotated[
        bool, typer.Option(help="Continue from the run's last.pt (refused when there is none).")
    ] = False,
    robustness: Annotated[bool, typer.Option(help="Also measure under corruptions.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Train a recipe, calibrate, export the artifact, evaluate and write the report."""
    _setup_logging(verbose)
    from training.build import build_artifact

    result = build_artifact(config, resume=resume, with_robustness=robustness)
    typer.echo(f"model {result.artifact.model_version}")
    typer.echo(f"artifact: {result.artifact_dir}")
    typer.echo(f"report:   {result.evaluation_dir / 'report.md'}")
    _echo_headline(result.metrics)


@app.command("evaluate")
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model artifact folder (with model.json).")],
    manifest: Annotated[Path, typer.Argument(help="Manifest of labelled photos.")],
    out: Annotated[Path, typer.Option(help="Folder for metrics.json, plots and report.md.")] = Path(
        "evaluation"
    ),
    split: Annotated[
        Literal["train", "val", "test", "all"], typer.Option(help="Rows to measure.")
    ] = "test",
    held_out_style: Annotated[
        list[int] | None,
        typer.Option(help="Style id(s) to report apart (repeatable; each must have photos)."),
    ] = None,
    robustness: Annotated[bool, typer.Option(help="Also measure under corruptions.")] = True,
    allow_overlap: Annotated[
        bool,
        typer.Option(
            help="Measure even photos the model was trained or validated on (same sha256), "
            "or other photos of families it trained or validated on; the report then carries "
            "a warning. Default: refuse."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Measure an exported model (ONNX Runtime) on a manifest's photos."""
    _setup_logging(verbose)
    from training.evaluate import evaluate_artifact

    metrics, report = evaluate_artifact(
        model,
        manifest,
        out_dir=out,
        split=split,
        held_out_styles=held_out_style or [],
        with_robustness=robustness,
        allow_overlap=allow_overlap,
    )
    typer.echo(f"report: {report}")
    _echo_headline(metrics)
    data = metrics["data"]
    if data.get("training_photos_known") is False:  # last, so it is not lost above the figures
        typer.secho(
            "WARNING: these photos were NOT checked against the model's training photos: "
            f"{data['training_photos_unknown_reason']}. Figures on photos or families it "
            "trained on would be inflated; make the training manifest readable (from this "
            "folder or the project root) and run again to check.",
            err=True, fg=typer.colors.RED, bold=True,
        )  # fmt: skip


@app.command("export")
def export(
    model: Annotated[Path, typer.Argument(help="Training run folder (with best.pt, run.json).")],
    out: Annotated[
        Path | None, typer.Option(help="Artifact folder (default RUN/artifact).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Export a training run to a model artifact folder (model.onnx, model.pt, model.json)."""
    _setup_logging(verbose)
    from training.build import export_run

    folder, artifact = export_run(model, out_dir=out)
    typer.echo(f"model {artifact.model_version} exported to {folder}")


def _echo_headline(metrics: dict) -> None:
    """The headline figures; one a photo set cannot define says why instead of "nan"."""
    from shanyraq.taxonomy import get_taxonomy
    from training.metrics import undefined_reasons
    from training.report import headline

    head = headline(metrics)
    why = undefined_reasons(metrics, not_dwelling=get_taxonomy().not_dwelling)
    for key in ("room_macro_f1", "not_dwelling_recall", "condition_qwk", "signs_map"):
        typer.echo(f"  {key:22s} " + (f"n/a ({why[key]})" if key in why else f"{head[key]:.3f}"))
    after = head["ece_after"]
    typer.echo(
        "  ECE after calibration  " + ", ".join(f"{k} {_figure(v)}" for k, v in after.items())
    )


def _figure(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"
