"""What `shanyraq rescore promote` prints about the re-scoring runs. Its first line named the
runs the promotion checked as if they were the runs it adopted ("re-scoring runs 1, 2"), and
its last named the adopted runs without what each gave; now the first says they are the runs
checked, and the last gives each adopted run's count of photos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.storage import PhotoStore
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.rescore_fixtures import cli_config, tiny_model
from tests.serving.rescore_helpers import late_upload


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("models"))


def _service_with_run(tmp_path: Path, model: Path) -> tuple[Path, str, PhotoStore]:
    """Four photos scored by re-scoring run 1 of `model`, which the service scores with;
    (serving.yaml, database URL, photo store)."""
    config = cli_config(tmp_path, 4, model_dir=model)
    data = tmp_path / "data"
    url, store = f"sqlite:///{data / 'shanyraq.db'}", PhotoStore(data / "photos")
    assert _rescore(model, config).exit_code == 0
    return config, url, store


def _rescore(model: Path, config: Path, *options: str) -> Any:
    return run_cli("rescore", "--model", model, "--config", config, "--device", "cpu",
                "--no-progress", *options)  # fmt: skip


def _late_run(model: Path, config: Path, url: str, store: PhotoStore) -> None:
    """Two photos uploaded after run 1 (days 10 and 11), scored by run 2 (--since day 10)."""
    for day in (10, 11):
        late_upload(url, store, day=day, seed=day)
    late = _rescore(model, config, "--since", "2026-01-11")
    assert late.exit_code == 0, (error_code(late), late.output)


def _promote(model: Path, config: Path, *options: str) -> Any:
    done = run_cli("rescore", "promote", "--model", model, "--config", config, "--no-progress",
                *options)  # fmt: skip
    assert done.exit_code == 0, (error_code(done), done.output)
    return done.output.splitlines()


def test_the_first_line_names_the_runs_checked_as_checked(tmp_path: Path, model: Path) -> None:
    """Run 1 promoted, then run 2 for photos uploaded since: the next promotion checks both and
    adopts run 2 only, and its dry run and its run say the two were checked."""
    config, url, store = _service_with_run(tmp_path, model)
    _promote(model, config)
    _late_run(model, config, url, store)

    dry = _promote(model, config, "--dry-run")
    assert dry[0] == "would promote model test-0 (re-scoring runs checked: 1, 2)"
    done = _promote(model, config)
    assert done[0] == "promoted model test-0 (re-scoring runs checked: 1, 2)"
    assert "updated now: 2 photo(s) with the scores of re-scoring runs 2 (2 photo(s));" in done[-1]


def test_the_last_line_counts_the_photos_each_adopted_run_gave(tmp_path: Path, model: Path) -> None:
    """Runs 1 and 2 promoted together: each is named with the photos it gave."""
    config, url, store = _service_with_run(tmp_path, model)
    _late_run(model, config, url, store)

    done = _promote(model, config)
    assert done[-1].startswith(
        "updated now: 6 photo(s) with the scores of re-scoring runs 1 (4 photo(s)), "
        "2 (2 photo(s)); scores sha256 "
    ), done[-1]
    assert done[-1].endswith("; audited")
    # Nothing left to adopt: no run named as giving photos.
    again = _promote(model, config)
    assert again[0] == "promoted model test-0 (re-scoring runs checked: 1, 2)"
    assert again[-1].startswith("updated now: 0 photo(s); scores sha256 "), again[-1]
    assert again[-1].endswith("already promoted and audited: nothing changed")
