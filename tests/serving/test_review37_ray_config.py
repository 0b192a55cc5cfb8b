"""The Ray re-scoring pipeline given a site's serving.yaml (`config`) tells commands that carry
it as --config: run as told (split as a shell splits them), each acts on the site's database,
not on the default configs' data folder. So do the commands the reason recorded for a photo
over the stored-photo limit tells, on one machine (`oversize_reason`, `stored_outcomes`).

Before, the pipeline took no config: its refusals (a run under other code, another run's
outcomes of another provenance, Ray not installed) and its actors' recorded reasons named
`shanyraq rescore discard --model DIR --ray` (or `shanyraq rescore`) without --config, and the
one-machine reason its retry and discard without it. The site's folder has a space and a quote
in its name; the default configs point at a data folder of their own, which nothing may make.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serving.db.models import RescoredScore, RescoreRun
from serving.db.session import make_engine, make_session_factory, session_scope
from serving.rescore_photos import stored_outcomes
from serving.rescore_ray import RayMissingError, expected_provenance, rescore_with_ray
from serving.rescore_runs import RescoreMixError, RescoreResumeError, since_key_of
from serving.rescore_words import oversize_reason
from tests.serving.helpers import jpeg
from tests.serving.rescore_fixtures import cli_config
from tests.serving.rescore_helpers import (
    MAX_PIXELS,
    NEW_CODE,
    OLD_CODE,
    VERSION,
    failed_ray_run,
    new_code,
)
from tests.serving.rescore_ray_helpers import FakeRay, ray_outcomes
from tests.serving.told_command_helpers import default_configs_elsewhere, option, told
from tests.shanyraq.cli_helpers import run_main_raw_code
from vision.bulk import PhotoBytes, open_scorer

BELOW = 5_000  # a limit the 96 x 72 photos the re-scoring fixtures file are over


@dataclass(frozen=True)
class Site:
    """A site's folder (a space and a quote in its name), its serving.yaml and database."""

    folder: Path
    default_data: Path  # the default configs' data folder, which no told command may make

    @property
    def config(self) -> Path:
        return self.folder / "serving.yaml"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.folder / 'data' / 'shanyraq.db'}"

    @property
    def store_root(self) -> Path:
        return self.folder / "data" / "photos"

    def runs(self) -> list[tuple[Any, ...]]:
        engine = make_engine(self.url)
        try:
            with make_session_factory(engine)() as session:
                rows = session.execute(
                    select(RescoreRun.id, RescoreRun.since_key, RescoreRun.status)
                )
                return [tuple(row) for row in rows]
        finally:
            engine.dispose()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The site's folder, made, with nothing in it yet; the default configs elsewhere."""
    from serving.core.config import get_settings
    from shanyraq.config import get_settings as get_shanyraq_settings

    site = Site(tmp_path / "site o'neil", default_configs_elsewhere(tmp_path, monkeypatch))
    site.folder.mkdir()
    yield site
    get_settings.cache_clear()
    get_shanyraq_settings.cache_clear()  # the stored-photo limit a test lowered


def _site_with_photos(site: Site, n: int, model: Path) -> None:
    assert cli_config(site.folder, n, model_dir=model) == site.config


def _on_model(args: list[str], model: Path) -> list[str]:
    """A told command's arguments with its DIR the model folder."""
    return [str(model) if arg == "DIR" else arg for arg in args]


def _told_discard(text: str, site: Site, model: Path) -> list[str]:
    """The one `shanyraq rescore discard ...` that `text` tells, as a shell splits it, on the
    site's --config (DIR: the model folder)."""
    (args,) = told(text, "rescore discard")
    assert option(args, "--config") == str(site.config), text
    return _on_model(args, model)


def _discard_as_told(
    args: list[str], site: Site, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> str:
    code, out, err = run_main_raw_code(monkeypatch, capsys, "rescore", "discard", *args)
    assert code == 0, (out, err)
    assert not site.default_data.exists()
    return out


def _rescore_as_told(
    args: list[str], site: Site, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`shanyraq rescore ARGS` (on the CPU), which scores the site's photos in a new run."""
    told_run = ["rescore", *_on_model(args, model), "--device", "cpu", "--no-progress"]
    code, out, err = run_main_raw_code(monkeypatch, capsys, *told_run)
    assert code == 0, (out, err)
    assert site.runs() == [(1, "", "done")]
    assert not site.default_data.exists()


# --- the pipeline's refusals and its actors' recorded reasons ---------------------------------


@pytest.mark.parametrize("ray", ["fake", pytest.param("local", marks=pytest.mark.slow)])
def test_an_actors_reason_for_a_photo_over_the_stored_limit_tells_the_sites_discard(
    site: Site,
    model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    request: pytest.FixtureRequest,
    ray: str,
) -> None:
    """Both photos are over the stored-photo limit: the actors record them without a score,
    naming the discard of the pipeline's run with the site's --config; run as told, it deletes
    that run on the site's database. On FakeRay (the actors in this process) and on Ray started
    on this machine (the actors in its workers, their arguments pickled)."""
    from shanyraq.config import get_settings

    _site_with_photos(site, 2, model)
    monkeypatch.setenv("SHANYRAQ_IO__STORED_MAX_PIXELS", str(BELOW))
    get_settings.cache_clear()
    if ray == "fake":
        monkeypatch.setattr("serving.rescore_ray._ray", FakeRay)
    else:
        request.getfixturevalue("local_ray")
    report = rescore_with_ray(
        site.url, site.store_root, model, model_version=VERSION, prefer="cpu", max_pixels=BELOW,
        config=site.config,
    )  # fmt: skip
    assert (report.scored, report.failed, report.complete) == (0, 2, True)
    reasons = set(ray_outcomes(site.url).values())
    assert len(reasons) == 1
    (why,) = reasons
    assert why is not None and "io.stored_max_pixels" in why, why
    args = _told_discard(why, site, model)
    assert "--ray" in args, why

    out = _discard_as_told(args, site, monkeypatch, capsys)
    assert "deleted 0 score(s) and 2 recorded failure(s)" in out, out
    assert site.runs() == []


def test_a_refused_retry_tells_the_discard_on_the_sites_database(
    site: Site, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, no_ray: None
) -> None:
    """The pipeline's run, finished under other code, holds 3 outcomes: the call with
    retry_failed=True is refused, and the discard it tells, run as told, deletes the 3."""
    url, _, run_id = failed_ray_run(site.folder, model, monkeypatch)
    assert url == site.url
    new_code(monkeypatch, NEW_CODE)
    with pytest.raises(RescoreResumeError) as refused:
        rescore_with_ray(
            site.url, site.store_root, model, model_version=VERSION, prefer="cpu",
            max_pixels=MAX_PIXELS, retry_failed=True, config=site.config,
        )  # fmt: skip
    args = _told_discard(refused.value.message, site, model)
    assert option(args, "--model") == str(model) and "--ray" in args

    out = _discard_as_told(args, site, monkeypatch, capsys)
    assert f"run {run_id}" in out and "deleted 2 score(s) and 1 recorded failure(s)" in out, out
    assert site.runs() == []


def test_a_refusal_beside_another_runs_outcomes_tells_its_discard_on_the_sites_database(
    site: Site, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, no_ray: None
) -> None:
    """A finished run of `rescore` under other code, not promoted, holds photo 1's score: the
    pipeline is refused beside it, and the discard it tells, run as told, deletes that run."""
    _site_with_photos(site, 2, model)
    new_code(monkeypatch, OLD_CODE)
    old = expected_provenance(model, prefer="cpu", num_gpus_per_actor=0, decode_short_side=None)
    engine = make_engine(site.url)
    with session_scope(make_session_factory(engine)) as session:
        other = RescoreRun(model_version=VERSION, since_key=since_key_of(None), status="done",
                           scored=1)  # fmt: skip
        old.record(other)
        session.add(other)
        session.flush()
        session.add(
            RescoredScore(photo_id=1, model_version=VERSION, run_id=other.id, score={"m": 1})
        )
    engine.dispose()
    new_code(monkeypatch, NEW_CODE)
    with pytest.raises(RescoreMixError) as refused:
        rescore_with_ray(
            site.url, site.store_root, model, model_version=VERSION, prefer="cpu",
            max_pixels=MAX_PIXELS, config=site.config,
        )  # fmt: skip
    args = _told_discard(refused.value.message, site, model)
    assert "--ray" not in args  # the other run is `rescore`'s
    assert site.runs() == [(1, "", "done")]  # the pipeline's run is rolled back with the refusal

    out = _discard_as_told(args, site, monkeypatch, capsys)
    assert "deleted 1 score(s) and 0 recorded failure(s)" in out, out
    assert site.runs() == []


def test_ray_missing_tells_the_one_machine_rescore_on_the_sites_database(
    site: Site, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _site_with_photos(site, 2, model)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails: not installed
    with pytest.raises(RayMissingError) as refused:
        rescore_with_ray(
            site.url, site.store_root, model, model_version=VERSION, prefer="cpu",
            max_pixels=MAX_PIXELS, config=site.config,
        )  # fmt: skip
    (args,) = told(refused.value.message, "rescore")
    assert option(args, "--config") == str(site.config), refused.value.message
    _rescore_as_told(args, site, model, monkeypatch, capsys)


def test_ray_missing_without_a_config_tells_no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayMissingError) as refused:
        rescore_with_ray("sqlite:///x.db", Path("photos"), Path("model"), model_version=VERSION,
                         max_pixels=MAX_PIXELS)  # fmt: skip
    assert told(refused.value.message, "rescore") == [["--model", "DIR"]]


# --- the one-machine reason for a photo over the stored-photo limit ---------------------------


def test_the_one_machine_reason_tells_its_retry_and_discard_on_the_sites_database(
    site: Site, model: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`stored_outcomes` given the site's config records a photo over the limit with the retry
    and the discard on that --config; the retry, run as told, re-scores the site's photos.
    (The builders are called directly: the one-machine command records what `rescore` hands
    `stored_outcomes`, serving/rescore.py.)"""
    _site_with_photos(site, 2, model)
    scorer = open_scorer(model, prefer="cpu", max_pixels=BELOW)
    (scored,) = scorer.infer(scorer.prepare([PhotoBytes(1, "0" * 64, jpeg(1, size=(96, 72)))]))
    assert scored.code == "image_too_large"
    (recorded,) = stored_outcomes(scorer, [scored], config=site.config)
    why = recorded.error
    assert why == oversize_reason(BELOW, config=site.config)
    retry, discard = told(why, "rescore")
    assert discard == ["discard", "--model", "DIR", "--config", str(site.config)], why
    assert "--retry-failed" in retry and option(retry, "--config") == str(site.config), why
    _rescore_as_told(retry, site, model, monkeypatch, capsys)


def test_the_one_machine_reason_without_a_config_tells_none() -> None:
    why = oversize_reason(BELOW)
    assert told(why, "rescore") == [
        ["--model", "DIR", "--retry-failed"],
        ["discard", "--model", "DIR"],
    ], why
    ray_discard = "`shanyraq rescore discard --model DIR --ray`"  # a Ray actor's, with its --config
    ray_why = oversize_reason(BELOW, ray_discard=ray_discard, config=Path("other.yaml"))
    assert told(ray_why, "rescore") == [["discard", "--model", "DIR", "--ray"]], ray_why
