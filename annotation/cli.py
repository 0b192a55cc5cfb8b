"""`shanyraq annotate`: Label Studio project, pre-annotated tasks, active selection, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from annotation.cli_inputs import (
    check_outputs,
    load_scores,
    one_scores_option,
    scores_source_record,
)

if TYPE_CHECKING:
    from annotation.client import Connection
    from annotation.settings import AnnotationConfig

app = typer.Typer(
    help="Label Studio: make the project, push photos with pre-annotations, pick what to "
    "label next, pull labels into a manifest.",
    no_args_is_help=True,
)

ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="Model artifact folder: its scores pre-annotate.")
]
ScoresOpt = Annotated[
    Path | None,
    typer.Option("--scores", help="Scores JSONL (from --save-scores) instead of --model."),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Another annotation.yaml.")]


def _config(path: Path | None) -> AnnotationConfig:
    from annotation.settings import get_annotation_config, load_annotation_config

    return load_annotation_config(path) if path else get_annotation_config()


def _connect(config: AnnotationConfig) -> Connection:
    from annotation.client import connect
    from annotation.settings import token_from_env

    return connect(config.server.url, token_from_env(), timeout_s=config.server.timeout_s)


@app.command("init")
def init(config_path: ConfigOpt = None) -> None:
    """Create the project from the taxonomy, with local-files storage for the photos."""
    from annotation.project import init_project
    from shanyraq.taxonomy import get_taxonomy

    config = _config(config_path)
    conn = _connect(config)
    info = init_project(
        conn,
        title=config.project.title,
        taxonomy=get_taxonomy(),
        photos_dir=config.photos_dir(),
        document_root=config.document_root(),
    )
    verb = "created" if info.created else "found"
    typer.echo(
        f"{verb} project '{info.title}' (id {info.id}, taxonomy v{info.taxonomy_version}) "
        f"at {conn.url}; photos served from {info.photos_dir}"
    )


@app.command("push")
def push(
    manifest: Annotated[Path, typer.Argument(help="Manifest of the photos to import.")],
    model: ModelOpt = None,
    scores: ScoresOpt = None,
    save_scores: Annotated[
        Path | None, typer.Option("--save-scores", help="Keep the scores (JSONL) for select.")
    ] = None,
    config_path: ConfigOpt = None,
) -> None:
    """Import photos as tasks with the model's pre-annotations; skips photos already there."""
    from annotation.project import open_project, set_model_version
    from annotation.scoring import one_model, write_scores
    from annotation.storage import check_served
    from annotation.tasks import check_in_photos_dir, push_rows
    from shanyraq.manifest import read_manifest
    from shanyraq.taxonomy import get_taxonomy

    one_scores_option(model, scores)
    config = _config(config_path)
    data = read_manifest(manifest)
    # Photos Label Studio would not serve are refused before any is scored (push_rows checks
    # the new ones again, for callers other than this command).
    check_in_photos_dir(data.rows, manifest_root=data.root, photos_dir=config.photos_dir())
    # A scores file is read, and checked, before anything is asked of the server.
    by_sha = one_model(load_scores(manifest, None, scores), scores) if scores is not None else None
    # Connect (and find the project) before scoring: scoring every photo takes a while, and is
    # wasted if Label Studio is down.
    conn = _connect(config)
    project_id = open_project(conn, title=config.project.title, taxonomy=get_taxonomy())
    check_served(conn, project_id, config.photos_dir())  # the folder init made the storage for?
    if by_sha is None:
        by_sha = load_scores(manifest, model, None)
    if save_scores is not None and by_sha:
        write_scores(save_scores, by_sha.values())
    report = push_rows(
        conn,
        project_id,
        data.rows,
        manifest_root=data.root,
        document_root=config.document_root(),
        scores=by_sha,
        taxonomy=get_taxonomy(),
        sign_threshold=config.push.sign_threshold,
        batch_size=config.push.batch_size,
        ranking=config.selection.params(budget=0),
        photos_dir=config.photos_dir(),
    )
    if by_sha:  # one model's (`one_model`): the version Label Studio shows annotators
        set_model_version(conn, project_id, next(iter(by_sha.values())).model_version)
    typer.echo(report.summary(project_id))
    if report.unanswered:
        typer.echo(
            f"{report.unanswered} photo(s) have no prediction: the model gave no numbers for "
            "them (NaN); check the model with `shanyraq score PHOTO --model DIR`",
            err=True,
        )


@app.command("select")
def select(
    manifest: Annotated[Path, typer.Argument(help="Manifest of candidate photos.")],
    budget: Annotated[int, typer.Option("--budget", min=1, help="How many photos to pick.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Manifest of the picked photos; OUT.json beside it records how they were chosen.",
        ),
    ],
    model: ModelOpt = None,
    scores: ScoresOpt = None,
    skip_pushed: Annotated[
        bool,
        typer.Option("--skip-pushed", help="Leave out photos already in the Label Studio project."),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing OUT and OUT.json.")
    ] = False,
    config_path: ConfigOpt = None,
) -> None:
    """Pick the unlabelled photos most worth labelling (then `annotate push OUT`).

    OUT.json (e.g. picked.csv.json) records the pool manifest's sha256, the scores' source and
    model versions, the selection parameters, budget and seed, and the code version.
    """
    from annotation.manifest_selection import (
        check_unlabelled,
        select_from_manifest,
        selection_record,
        selection_record_path,
        write_selection,
    )
    from shanyraq.manifest import read_manifest

    if model is None and scores is None:
        raise typer.BadParameter("give --model DIR or --scores FILE: selection needs scores")
    one_scores_option(model, scores)
    config = _config(config_path)
    data = read_manifest(manifest)
    check_unlabelled(data.rows, manifest=manifest)
    check_outputs(
        out, selection_record_path(out), manifest=manifest, scores=scores, overwrite=overwrite
    )
    by_sha = load_scores(manifest, model, scores, need_embeddings=True)
    missing = [r.path for r in data.rows if r.sha256 not in by_sha]
    if missing:
        raise typer.BadParameter(f"{len(missing)} photo(s) have no scores, e.g. {missing[0]}")
    in_project: dict[str, Path | None] | None = None
    if skip_pushed:
        from annotation.project import open_project
        from annotation.tasks import project_photos
        from shanyraq.taxonomy import get_taxonomy

        conn = _connect(config)
        project_id = open_project(conn, title=config.project.title, taxonomy=get_taxonomy())
        root = config.document_root()
        in_project = {
            sha: root / photo if photo else None
            for sha, photo in project_photos(conn, project_id).items()
        }
    params = config.selection.params(budget)
    selection = select_from_manifest(data.rows, data.root, by_sha, params, in_project=in_project)
    scores_source = scores_source_record(model, scores, [by_sha[r.sha256] for r in data.rows])
    record_path = write_selection(
        out,
        selection.picked,
        lambda written: selection_record(
            selection,
            params,
            manifest=manifest,
            out=out,
            scores_source=scores_source,
            in_project=None if in_project is None else len(in_project),
            written=written,
        ),
        overwrite=overwrite,
        root=data.root,  # the picks' paths, written relative to OUT's folder
    )
    typer.echo(
        f"selected {len(selection.picked)} of {len(selection.candidates)} unlabelled photo(s) "
        f"-> {out} (how: {record_path.name})"
    )
    if selection.unplaced:
        typer.echo(
            f"{len(selection.unplaced)} unlabelled photo(s) left out: the model gave no numbers "
            f"for their embedding (NaN), e.g. {selection.unplaced[0].path}; they are listed in "
            f"{record_path.name} under 'unplaced'",
            err=True,
        )
    if selection.near_duplicates:  # the budget had room: each is a copy of another photo
        typer.echo(
            f"{selection.near_duplicates} candidate(s) left out as near-duplicates of a pick, a "
            f"labelled photo or one already in the project ({record_path.name}: "
            "'near_duplicates')",
            err=True,
        )


@app.command("pull")
def pull(
    out: Annotated[Path, typer.Option("--out", help="Manifest to write the labels into.")],
    method: Annotated[
        str | None, typer.Option("--method", help="majority or reliability (default: config).")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing OUT and its .report.json and .disagreements.csv.",
        ),
    ] = False,
    config_path: ConfigOpt = None,
) -> None:
    """Export annotations into a manifest; report agreement, corrections, disagreements.

    The report and the disagreements go beside OUT (labels.csv: labels.report.json,
    labels.disagreements.csv); an earlier pull there is replaced only with --overwrite.
    """
    from annotation.export import pull as pull_annotations
    from annotation.export import report_paths
    from annotation.project import open_project
    from shanyraq.errors import InputFileError, OutputExistsError
    from shanyraq.outputs import check_new_output_file
    from shanyraq.taxonomy import get_taxonomy

    config = _config(config_path)
    chosen = method or config.merge.method
    if chosen not in ("majority", "reliability"):
        raise typer.BadParameter("--method must be majority or reliability")
    written = (out, *report_paths(out))
    for path in written:  # before asking the server: a refusal costs nothing
        if path.is_dir():
            raise InputFileError(
                f"{path} is a folder; --out names the manifest file to write: choose another"
            )
        try:
            check_new_output_file(path, overwrite=overwrite)
        except OutputExistsError:
            names = ", ".join(p.name for p in written)
            raise OutputExistsError(
                f"{path} exists (--out {out} writes {names}); choose another --out, or pass "
                "--overwrite to replace them"
            ) from None
    conn = _connect(config)
    project_id = open_project(conn, title=config.project.title, taxonomy=get_taxonomy())
    report = pull_annotations(
        conn,
        project_id,
        taxonomy=get_taxonomy(),
        document_root=config.document_root(),
        out=out,
        method="majority" if chosen == "majority" else "reliability",
    )
    typer.echo(json.dumps(report.to_dict(), indent=2))
    typer.echo(f"wrote {len(report.rows)} row(s) to {out}")


@app.command("curve")
def curve(
    out: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path(
        "docs/images/active-learning-curve.png"
    ),
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Repetitions to average.")] = 6,
    model: Annotated[
        Path, typer.Option("--model", help="Model artifact whose embeddings the learner uses.")
    ] = Path("runs/demo/artifact"),
    work_dir: Annotated[
        Path, typer.Option("--work-dir", help="Where rendered photos and cached scores go.")
    ] = Path("runs/active_learning"),
    config_path: ConfigOpt = None,
) -> None:
    """Measure selection against random picks on scored synthetic photos; plot the curves.

    Photos rendered by training.synth and scored by --model (cached in --work-dir); a logistic
    regression per head on the embeddings is refitted after each batch of labels; evaluation
    photos come from other homes. The goal: random's accuracy at N labels reached with <= 0.6 N.
    """
    from annotation.curve import ExperimentSetup, Strategy, plot_curves, run_experiment
    from shanyraq.taxonomy import get_taxonomy

    params = _config(config_path).selection.params(budget=0)
    results = run_experiment(
        ExperimentSetup(model_dir=model, work_dir=work_dir),
        get_taxonomy(),
        strategy=Strategy(params=params),
        seeds=tuple(range(seeds)),
    )
    plot_curves(results, out)
    for result in results:
        typer.echo(f"{result.title} (every photo labelled: {result.ceiling:.3f}):")
        for n, active, rand in zip(result.labels, result.active, result.random, strict=True):
            ratio = result.ratios[n]
            shown = "not reached" if ratio is None else f"{ratio:.2f}"
            typer.echo(
                f"  N={n:4d}  active {active:.3f}  random {rand:.3f}  labels needed/N {shown}"
            )
    typer.echo(f"wrote {out}")
