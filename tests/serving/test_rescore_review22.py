"""Review 22 of re-scoring (serving/rescore*.py):

1. A stored photo over even the stored-photo limit (io.stored_max_pixels) is recorded with
   words for the administrator, not vision's upload advice "send a smaller photo" (keyed on
   the error's code, which vision.bulk.Scored now carries).
2. The Ray driver computes the stored-photo limit once and hands it to its actors, so an
   actor whose node has another io.stored_max_pixels reads under the driver's limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.rescore_photos import stored_outcomes
from serving.rescore_ray_actor import ScoreBatch
from shanyraq.shell_words import config_option
from tests.serving.rescore_fixtures import populate
from tests.serving.rescore_ray_helpers import actor_kwargs, stored_batch
from tests.serving.rescore_store_helpers import photo_outcomes, rescore_stored, stored_service
from vision.bulk import PhotoBytes, open_scorer

BELOW = 5_000  # a limit the 96 x 72 photos the re-scoring fixtures file are over


@pytest.fixture
def io_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Sets io.* settings through their env overrides, as an administrator would."""
    from shanyraq.config import get_settings

    def set_limits(**limits: int) -> None:
        for name, value in limits.items():
            monkeypatch.setenv(f"SHANYRAQ_IO__{name.upper()}", str(value))
        get_settings.cache_clear()

    yield set_limits
    get_settings.cache_clear()  # monkeypatch (torn down after this) restores the env


def _addresses_the_administrator(why: str | None) -> None:
    assert why is not None
    assert "send a smaller photo" not in why, why  # the uploader's advice
    assert "io.stored_max_pixels" in why and "administrator" in why, why
    assert "rescore discard" in why, why  # raising it alone does not score a recorded photo


def test_rescore_names_the_stored_limit_for_a_photo_over_it(tmp_path: Path, model: Path, io_limits):
    """Before: the outcome and the report said "...; send a smaller photo"."""
    config, stored = stored_service(tmp_path, 2)
    io_limits(max_pixels=BELOW, stored_max_pixels=BELOW)
    result = rescore_stored(model, config)
    assert result.exit_code == 0, result.output
    outcomes = photo_outcomes(stored.url)
    assert set(outcomes) == set(stored.ids)
    for has_score, why in outcomes.values():
        assert not has_score
        _addresses_the_administrator(why)
        # The told run re-scores this site, not the default data folder.
        assert f"--retry-failed{config_option(config)}`" in str(why), why
    assert "send a smaller photo" not in result.output
    assert "io.stored_max_pixels" in result.output  # the report's failure lines


def test_a_ray_actor_names_the_stored_limit_for_a_photo_over_it(
    tmp_path: Path, model: Path, io_limits
):
    io_limits(max_pixels=BELOW, stored_max_pixels=BELOW)
    batch = stored_batch(tmp_path, 2)
    actor = ScoreBatch(**actor_kwargs(tmp_path, model, "cpu") | {"max_pixels": BELOW})
    rows = actor(batch)
    assert rows["score"] == [None, None]
    for why in rows["error"]:
        _addresses_the_administrator(why)


def test_other_failures_keep_their_own_words(model: Path):
    """Only the code image_too_large is reworded: corrupt bytes keep vision's reason."""
    scorer = open_scorer(model, prefer="cpu", max_pixels=50_000_000)
    item = PhotoBytes(1, "0" * 64, b"\xff\xd8 not a photo")
    (direct,) = scorer.infer(scorer.prepare([item]))
    assert direct.score is None and direct.code and direct.code != "image_too_large"
    assert stored_outcomes(scorer, [direct]) == [direct]


def test_the_ray_driver_hands_its_actors_the_stored_limit(
    tmp_path: Path, model: Path, io_limits, monkeypatch: pytest.MonkeyPatch
):
    """The driver's stored limit reaches every actor as is. Before: it handed them today's
    upload limit, and each actor raised it by its own node's io.stored_max_pixels."""
    import serving.rescore_ray as rescore_ray
    from serving.stored_decode import stored_limit

    data = tmp_path / "data"
    stored = populate(f"sqlite:///{data / 'shanyraq.db'}", data / "photos", 2)
    handed: list[dict[str, Any]] = []
    monkeypatch.setattr(rescore_ray, "_score", lambda *a, **kw: handed.append(a[4]))
    io_limits(stored_max_pixels=100_000_000)  # the driver's config
    driver_limit = stored_limit(50_000_000)
    rescore_ray.rescore_with_ray(
        stored.url, data / "photos", model, model_version="test-0", prefer="cpu",
        max_pixels=50_000_000, data_dir=data,
    )  # fmt: skip
    assert len(handed) == 1
    io_limits(stored_max_pixels=300_000_000)  # another node's config
    actor = ScoreBatch(**handed[0])
    assert actor.scorer.max_pixels == driver_limit == 100_000_000  # type: ignore[attr-defined]
