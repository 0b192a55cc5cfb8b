"""The discard a re-scoring records for a stored photo over the stored-photo limit names the run
that recorded it as the CLI takes it: its --model folder, its --since (and --ray) and the site's
--config. Parsed by the CLI, it names that model, that since and that config; run as told, it
deletes that run on the site's database.

Before, a Ray actor told `shanyraq rescore discard --model DIR ...` with DIR a placeholder,
though the pipeline knows the folder it was started on (the CLI refuses DIR, no such folder);
and `rescore` called without the folder its scorer was opened from (a library caller) told
`shanyraq rescore discard --config C`, with no --model, which the CLI refuses (--model is
required), where its retry named `--model DIR` for the administrator to fill in. The site's
folder and the model's have a space and a quote in their names; the default configs point at a
data folder of their own, which no told command may make.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from serving.db.session import make_engine
from serving.rescore import rescore
from serving.rescore_ray import rescore_with_ray
from serving.storage import PhotoStore
from tests.serving.cli_helpers import run_cli
from tests.serving.rescore_fixtures import cli_config, cpu_scorer
from tests.serving.rescore_helpers import VERSION, run_rows
from tests.serving.rescore_ray_helpers import FakeRay, ray_outcomes
from tests.serving.told_command_helpers import default_data_apart, option, parsed, told

pytestmark = pytest.mark.usefixtures("one_code_version")

BELOW = 5_000  # a limit the 96 x 72 photos the re-scoring fixtures file are over
DAY = "2026-01-02"  # the second photo's day: the run given it holds the second and third
SINCE = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.fixture
def default_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default configs' data folder (not made): where a command told without --config
    would work."""
    yield from default_data_apart(tmp_path, monkeypatch)


def _site(tmp_path: Path, model: Path) -> tuple[Path, Path, str]:
    """A site of 3 photos (of 2026-01-01, -02 and -03): (its serving.yaml, its photo store, its
    database's URL), in a folder with a space and a quote in its name."""
    site = tmp_path / "site o'neil"
    site.mkdir()
    config = cli_config(site, 3, model_dir=model)
    return config, site / "data" / "photos", f"sqlite:///{site / 'data' / 'shanyraq.db'}"


def _the_reason(url: str) -> str:
    """The one reason the run recorded, for the second and third photos (its scope)."""
    outcomes = ray_outcomes(url)
    assert sorted(outcomes) == [2, 3]
    (why,) = set(outcomes.values())
    assert why is not None and "io.stored_max_pixels" in why, why
    return why


def _discard_as_told(args: list[str], url: str, default_data: Path) -> None:
    """`shanyraq rescore discard ARGS`, which deletes the run and its 2 failures."""
    discarded = run_cli("rescore", "discard", *args)
    assert discarded.exit_code == 0, discarded.output
    assert "deleted 0 score(s) and 2 recorded failure(s)" in discarded.output
    assert run_rows(url) == [] and ray_outcomes(url) == {}
    assert not default_data.exists()


@pytest.mark.parametrize("ray", ["fake", pytest.param("local", marks=pytest.mark.slow)])
def test_an_actors_told_discard_names_the_pipelines_model_folder(
    tmp_path: Path,
    default_data: Path,
    model: Path,
    limits: Callable[[int], None],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    ray: str,
) -> None:
    """On FakeRay (the actors in this process) and on Ray started on this machine (the actors
    in its workers, their arguments pickled)."""
    copy = shutil.copytree(model, tmp_path / "models o'neil" / "model")
    config, store_root, url = _site(tmp_path, copy)
    limits(BELOW)
    if ray == "fake":
        monkeypatch.setattr("serving.rescore_ray._ray", FakeRay)
    else:
        request.getfixturevalue("local_ray")
    report = rescore_with_ray(
        url, store_root, copy, model_version=VERSION, prefer="cpu", max_pixels=BELOW,
        since=SINCE, config=config,
    )  # fmt: skip
    assert (report.scored, report.failed, report.complete) == (0, 2, True)
    why = _the_reason(url)

    (discard,) = told(why, "rescore discard")
    assert option(discard, "--model") == str(copy), why
    given = parsed(discard, "rescore", "discard")  # as the CLI parses it: the pipeline's run
    named = [given[name] for name in ("model", "since", "ray", "config")]
    assert named == [copy, DAY, True, config], why
    _discard_as_told(discard, url, default_data)


def test_the_told_discard_without_a_model_folder_names_dir_and_the_run(
    tmp_path: Path, default_data: Path, model: Path
) -> None:
    config, store_root, url = _site(tmp_path, model)
    engine = make_engine(url)
    try:
        report = rescore(
            engine, PhotoStore(store_root), cpu_scorer(model, max_pixels=BELOW), since=SINCE,
            progress=False, config=config,
        )  # fmt: skip
    finally:
        engine.dispose()
    assert (report.scored, report.failed) == (0, 2)
    why = _the_reason(url)

    retry, discard = told(why, "rescore")
    run = ["--model", "DIR", "--since", DAY]
    assert retry == [*run, "--retry-failed", "--config", str(config)], why
    assert discard == ["discard", *run, "--config", str(config)], why
    filled = [str(model) if arg == "DIR" else arg for arg in discard[1:]]
    given = parsed(filled, "rescore", "discard")  # as the CLI parses it, DIR filled in
    named = [given[name] for name in ("model", "since", "ray", "config")]
    assert named == [model, DAY, False, config], why
    _discard_as_told(filled, url, default_data)
