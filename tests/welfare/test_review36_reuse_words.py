"""The report says how reuse was checked only as a measurement recorded it: a record with
neither the check's words (`reuse`) nor the older full-hash radius (`reuse_radius`) is said not
to record it. Before, it read "full hash within the configured radius bits", a check and a
radius the record never named."""

from __future__ import annotations

from tests.welfare.real_report_helpers import real_result
from welfare.real_report import engine_trained_verdict


def verdict(source: dict, welfare_config) -> str:
    real = real_result(engine_training={"train_families": 10, **source})
    return " ".join(engine_trained_verdict(real, targets=welfare_config.targets))


def test_a_training_record_without_its_reuse_check_says_it_was_not_recorded(welfare_config):
    text = verdict({}, welfare_config)
    assert "reuse: how it was checked was not recorded)" in text, text
    assert "radius" not in text and "full hash" not in text, text


def test_a_recorded_check_or_radius_is_said_as_recorded(welfare_config):
    assert "reuse: full hash within 6 bits)" in verdict({"reuse_radius": 6}, welfare_config)
    said = verdict({"reuse": "pHash within 8 bits, verified", "reuse_radius": 6}, welfare_config)
    assert "reuse: pHash within 8 bits, verified)" in said, said
