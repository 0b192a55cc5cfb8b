"""`welfare ceiling --seed`, review 20: models trained with `welfare train --seed S` had no
ceiling to match (it always measured the recipe's seed, and the report's advice to run it
again could never fix that)."""

from __future__ import annotations

from typer.testing import CliRunner

from welfare.cli import app


def test_the_ceiling_is_measured_on_the_seed_asked_for(tmp_path, monkeypatch, welfare_config):
    asked: list[int] = []

    def measure(*, n, seed, sizes, config):
        asked.append(seed)
        return {"model": "lgbm_fused", "seed": seed, "rows": []}

    monkeypatch.setattr("welfare.ceiling.measure_ceiling", measure)
    monkeypatch.setattr("welfare.criteria.get_welfare_config", lambda: welfare_config)
    for args in (["--seed", "11"], []):
        result = CliRunner().invoke(app, ["ceiling", "--out", str(tmp_path), *args])
        assert result.exit_code == 0, result.output
    assert asked == [11, welfare_config.fusion.seed]
