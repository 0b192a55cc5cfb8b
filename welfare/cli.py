"""`shanyraq welfare`: train and evaluate fusion models, assess one family (advisory)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from shanyraq.shell_words import words
from welfare.fairness_intervals import least_bootstrap_draws
from welfare.report_notes import data_note as data_note  # tests import them here
from welfare.report_notes import notes as notes

app = typer.Typer(
    help="Welfare fusion: family record + photo scores -> advisory level and ASP recommendation.",
    no_args_is_help=True,
)


NOpt = Annotated[int | None, typer.Option(min=1, help="Synthetic families (default: recipe).")]
SeedOpt = Annotated[int | None, typer.Option(min=0, help="Data and model seed (default: recipe).")]
KeepMeaninglessOpt = Annotated[
    bool,
    typer.Option(
        "--keep-meaningless",
        help="Train on fewer families than a recipe may ask for, and save models that learned "
        "nothing (both refused otherwise): only to try the pipeline.",
    ),
]


@app.command("train")
def train(
    out: Annotated[Path, typer.Option(help="Folder for the model artifacts.")] = Path(
        "artifacts/welfare"
    ),
    n: NOpt = None,
    seed: SeedOpt = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Registered model (repeatable; default all)."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace the models already in --out (refused otherwise)."
        ),
    ] = False,
    keep_meaningless: KeepMeaninglessOpt = False,
) -> None:
    """Train fusion models on synthetic families (photo scores simulated) and save them.

    A model folder in --out that already holds a model is replaced only with --overwrite.
    """
    from shanyraq.outputs import check_output_folder
    from welfare.criteria import get_welfare_config
    from welfare.fusion import list_models
    from welfare.train import train_models

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    config = get_welfare_config()
    unknown = sorted(set(model or []) - set(list_models()))
    if unknown:
        raise typer.BadParameter(f"unknown models {unknown}; choose from {list_models()}")
    for folder in (out, *(out / name for name in model or list_models())):
        check_output_folder(folder)
    models = train_models(
        out,
        n=config.fusion.n_families if n is None else n,
        seed=config.fusion.seed if seed is None else seed,
        names=model or None,
        config=config,
        overwrite=overwrite,
        keep_meaningless=keep_meaningless,
    )
    for name, fitted in models.items():
        typer.echo(f"{name}: {fitted.meta.version} -> {out / name}")


def _n_boot_below_minimum(ctx: typer.Context, n_boot: int) -> int:
    """`evaluate --n-boot`: say at once when it is too few for any bootstrap interval."""
    if ctx.resilient_parsing:  # shell completion: nothing runs
        return n_boot
    from welfare.criteria import get_welfare_config

    least = get_welfare_config().fairness.intervals.min_bootstrap_draws
    if n_boot < least:
        typer.echo(
            f"note: --n-boot {n_boot} is fewer than the {least} resamples a bootstrap interval "
            "needs (configs/welfare.yaml fairness.intervals.min_bootstrap_draws): none is drawn, "
            "every fairness interval is Wilson's, the whole range or the exact one; give "
            f"--n-boot {least} or more for bootstrap intervals",
            err=True,
        )
    return n_boot


@app.command("evaluate")
def evaluate(
    models: Annotated[Path, typer.Argument(help="Folder written by `welfare train`.")] = Path(
        "artifacts/welfare"
    ),
    out: Annotated[Path, typer.Option(help="Folder for metrics.json and plots.")] = Path(
        "docs/images/welfare"
    ),
    markdown: Annotated[Path, typer.Option(help="Markdown report.")] = Path(
        "docs/welfare-report.md"
    ),
    n_boot: Annotated[
        int,
        typer.Option(
            min=1,
            callback=_n_boot_below_minimum,
            help="Bootstrap resamples for the fairness intervals, at least 1. Fewer than "
            "configs/welfare.yaml fairness.intervals.min_bootstrap_draws (never under "
            f"{least_bootstrap_draws()}) draw none: every group's interval is then Wilson's (or "
            "the whole range or the exact one); a note says so at once, and the report too.",
        ),
    ] = 200,
    fairness_model: Annotated[
        str | None,
        typer.Option(
            help="Model to report fairness for (default: the model the service uses, "
            "configs/welfare.yaml fusion.serving_model)."
        ),
    ] = None,
) -> None:
    """Evaluate saved models on held-out synthetic families; write JSON, plots and Markdown."""
    from shanyraq.errors import ModelMismatchError
    from shanyraq.outputs import check_output_file, check_output_folder
    from welfare.criteria import get_welfare_config
    from welfare.model_folder import META_FILE
    from welfare.report import write_report
    from welfare.simulate import NoiseModel
    from welfare.train import evaluate_saved

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if (models / META_FILE).is_file():
        raise ModelMismatchError(
            f"{models} is one fusion model's folder; give the folder that holds the models "
            f"(here {models.absolute().parent}), the --out of `shanyraq welfare train`"
        )
    check_output_folder(out)
    check_output_file(markdown, option="--markdown")
    config = get_welfare_config()
    result, context = evaluate_saved(
        models, n_boot=n_boot, config=config, fairness_model=fairness_model
    )
    # The recipe the default model recorded; a model saved before recipes were: the config's.
    recipe = context["recipe"] or config.fusion.model_dump(mode="json")
    context.update(
        command="shanyraq welfare " + words(sys.argv[2:]),
        default_model=result["default_model"],
        serving_model=result["serving_model"],
        data_note=data_note(NoiseModel()),  # the noise `evaluate` simulates scores with
        notes=notes(calibration_fraction=recipe["calibration_fraction"]),
    )
    page = write_report(
        result,
        out_dir=out,
        markdown=markdown,
        context=context,
        levels=config.level_values,
        targets=config.targets,
    )
    for name, m in result["models"].items():
        lv, asp, t = m["overall"]["level"], m["overall"]["asp"], config.targets
        typer.echo(
            f"{name}: accuracy {_figure(lv['accuracy'], t.level_accuracy)} "
            f"macro-F1 {_figure(lv['macro_f1'])} QWK {_figure(lv['qwk'])} "
            f"exclusion {_figure(asp['exclusion_error'], t.exclusion_error)} "
            f"review {_figure(asp['needs_review_rate'], t.needs_review_rate)}"
        )
    typer.echo(f"report: {page}")


def _figure(value: float | None, *targets: float) -> str:
    """A figure as the report gives it: undefined is n/a, never rounded across its target."""
    from shanyraq.display import decimals_keeping_side
    from welfare.report import is_undefined

    if value is None or is_undefined(value):
        return "n/a"
    return f"{value:.{decimals_keeping_side(value, targets, least=3, most=9)}f}"


@app.command("ceiling")
def ceiling(
    n: Annotated[
        int, typer.Option(min=1, help="Synthetic families (test split as in the recipe).")
    ] = 64000,
    sizes: Annotated[
        list[int] | None, typer.Option("--size", min=1, help="Training families (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where ceiling.json goes (read by `evaluate`).")] = Path(
        "docs/images/welfare"
    ),
    seed: SeedOpt = None,
) -> None:
    """Measure the accuracy ceiling: simulated vs noise-free photo scores, by training size.

    On the data seed of the models `evaluate` reports (`welfare train --seed`; default: the
    recipe's): a ceiling of another seed is left out of their report."""
    from shanyraq.atomic import atomic_file
    from shanyraq.json_values import finite_or_none
    from shanyraq.outputs import check_output_file
    from shanyraq.provenance import code_version
    from welfare.ceiling import measure_ceiling
    from welfare.criteria import get_welfare_config

    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    check_output_file(out / "ceiling.json")
    config = get_welfare_config()
    result = measure_ceiling(
        n=n, seed=config.fusion.seed if seed is None else seed,
        sizes=sizes or [3000, 12000, 48000], config=config,
    )  # fmt: skip
    result["command"] = "shanyraq welfare " + words(sys.argv[2:])
    # What `evaluate` checks it against before putting it in the report, and its provenance.
    result.update(
        recipe=config.fusion.model_dump(mode="json"),
        code_version=code_version(),
        welfare_config_sha256=config.digest(),
    )
    with atomic_file(out / "ceiling.json") as tmp:  # null for an undefined figure: no NaN
        text = json.dumps(finite_or_none(result), indent=2, allow_nan=False)
        tmp.write_text(text, encoding="utf-8")
    for row in result["rows"]:
        typer.echo(f"{row['reading']}, {row['n_train']} families: {row['accuracy']:.4f}")


@app.command("assess")
def assess_command(
    record: Annotated[Path, typer.Argument(help="Family record JSON (FamilyRecord fields).")],
    scores: Annotated[
        Path | None, typer.Option(help="JSON list of PhotoScore dicts (optional key 'flags').")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Fusion model folder.")] = None,
) -> None:
    """Assess one family and print the advisory Assessment as JSON."""
    from welfare.assess import assess
    from welfare.fusion import FusionModel
    from welfare.photo_scores import read_photo_scores
    from welfare.schema import read_family

    family = read_family(record)
    photo_scores, flags = read_photo_scores(scores) if scores else ([], [])
    fusion = FusionModel.load(model) if model else None
    outcome = assess(family, photo_scores, model=fusion, photo_flags=flags)
    typer.echo(json.dumps(outcome.to_dict(), indent=2, ensure_ascii=False))


# Options shared by the commands that render and score families' photos.
VisionOpt = Annotated[Path, typer.Option(help="Vision model artifact (scores the photos).")]
SizeOpt = Annotated[
    int,  # the range `synth photos --size` renders
    typer.Option(min=32, max=2048, help="Render size, px (the demo model's data: 128)."),
]
DEMO_VISION = Path("runs/demo/artifact")


@app.command("evaluate-real")
def evaluate_real(
    families: Annotated[int, typer.Option(min=1, help="Test families to render and score.")] = 400,
    model: Annotated[Path, typer.Option(help="Folder written by `welfare train`.")] = Path(
        "artifacts/welfare"
    ),
    vision: VisionOpt = DEMO_VISION,
    size: SizeOpt = 128,
    cache: Annotated[
        Path | None, typer.Option(help="Folder of cached photo scores; --no-cache: none.")
    ] = Path("runs/welfare_real"),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Score every photo again.")] = False,
    n_boot: Annotated[
        int, typer.Option(min=1, help="Paired bootstrap resamples for the CIs.")
    ] = 1000,
    out: Annotated[
        Path, typer.Option(help="Where real_scores.json goes (read by `evaluate`).")
    ] = Path("docs/images/welfare"),
    engine_model: Annotated[
        Path | None,
        typer.Option(help="Fused model trained on engine scores (`welfare train-engine`)."),
    ] = None,
) -> None:
    """Render the test families' photos, score them with the vision model, compare fusion."""
    import os

    # One thread: the study must not crowd a machine others are measuring on.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    from shanyraq.atomic import atomic_file
    from shanyraq.json_values import finite_or_none
    from shanyraq.outputs import check_output_file
    from welfare.criteria import get_welfare_config
    from welfare.real_evaluation import arm, measure_real_scores

    cv2.setNumThreads(1)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    path = out / "real_scores.json"
    check_output_file(path)
    result = measure_real_scores(
        model,
        vision_dir=vision,
        n_families=families,
        size=size,
        cache_dir=None if no_cache else cache,
        n_boot=n_boot,
        config=get_welfare_config(),
        engine_model=engine_model,
        progress=True,
    )
    result.pop("_frames")
    result["command"] = "shanyraq welfare " + words(sys.argv[2:])
    with atomic_file(path) as tmp:  # null for an undefined figure: no NaN
        tmp.write_text(json.dumps(finite_or_none(result), indent=2, allow_nan=False), "utf-8")
    arms, t = result["overall"]["arms"], get_welfare_config().targets
    for name in (result["tabular"], result["fused"], result["engine_trained"]):
        for key in [arm(name, reading) for reading in ("simulated", "engine") if name]:
            typer.echo(
                f"{key}: accuracy {_figure(arms[key]['accuracy']['value'], t.level_accuracy)} "
                f"exclusion {_figure(arms[key]['exclusion_error']['value'], t.exclusion_error)} "
                f"review {_figure(arms[key]['needs_review_rate']['value'], t.needs_review_rate)}"
            )
    typer.echo(f"figures: {path}; `shanyraq welfare evaluate` puts them in the report")


@app.command("train-engine")
def train_engine(
    families: Annotated[
        int | None, typer.Option(min=1, help="Training families (seeded subset; default all).")
    ] = None,
    subset_seed: Annotated[int, typer.Option(min=0, help="Seed of the subset of families.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the model artifact.")] = Path(
        "artifacts/welfare/engine/lgbm_fused_engine"
    ),
    vision: VisionOpt = DEMO_VISION,
    size: SizeOpt = 128,
    cache: Annotated[Path, typer.Option(help="Folder of cached photo scores.")] = Path(
        "runs/welfare_real"
    ),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the model already in --out.")
    ] = False,
    n: NOpt = None,
    seed: SeedOpt = None,
    keep_meaningless: KeepMeaninglessOpt = False,
) -> None:
    """Train lgbm_fused on the training split's photos rendered and scored by the vision model.

    The training split is that of `welfare train --n N --seed S` (default: the recipe's); a
    model already in --out is replaced only with --overwrite (as `welfare train`).
    """
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as evaluate-real: one thread
    import cv2

    from shanyraq.outputs import check_output_folder
    from welfare.criteria import get_welfare_config
    from welfare.model_folder import check_destination
    from welfare.model_replacing import check_replacing
    from welfare.real_training import train_on_engine_scores

    cv2.setNumThreads(1)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    check_output_folder(out)
    check_destination(out)  # the model replaces the folder whole: refused before any scoring
    check_replacing([out], overwrite=overwrite)  # a model there (maybe measured): if asked
    model, counts = train_on_engine_scores(
        out,
        vision_dir=vision,
        n_families=families,
        subset_seed=subset_seed,
        size=size,
        cache_dir=cache,
        config=get_welfare_config(),
        n=n,
        seed=seed,
        keep_meaningless=keep_meaningless,
        progress=True,
    )
    typer.echo(
        f"{model.meta.version}: {counts['families']:,} families, {counts['photos']:,} photos "
        f"({counts['scored']:,} scored in {counts['scoring_seconds']:.0f} s) -> {out}"
    )
