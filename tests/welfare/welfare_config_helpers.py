"""The welfare config with a setting changed: the poverty line (given, or half as high again),
the test fraction, or `recommendation` values in the real welfare.yaml; and configs/synth.yaml
edited to draw more rural families."""

from __future__ import annotations

from pathlib import Path

from training.synth.config import get_synth_config
from welfare.criteria import WelfareConfig


def with_poverty_line(config: WelfareConfig, kzt: float) -> WelfareConfig:
    thresholds = config.thresholds.model_copy(update={"poverty_line_kzt": kzt})
    return config.model_copy(update={"thresholds": thresholds})


def with_recommendation(tmp_path, **values):
    """The real welfare.yaml with `recommendation` values changed, loaded from a temp file."""
    import yaml

    from welfare.criteria import load_welfare_config

    data = yaml.safe_load(Path(__file__).parents[2].joinpath("configs/welfare.yaml").read_text())
    data["recommendation"].update(values)
    path = tmp_path / "welfare.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_welfare_config(path)


def other_poverty_line(config: WelfareConfig) -> WelfareConfig:
    line = config.thresholds.poverty_line_kzt * 1.5
    thresholds = config.thresholds.model_copy(update={"poverty_line_kzt": line})
    return config.model_copy(update={"thresholds": thresholds})


def with_fraction(config, test_fraction):
    fusion = config.fusion.model_copy(update={"test_fraction": test_fraction})
    return config.model_copy(update={"fusion": fusion})


def more_rural_families(config, monkeypatch):
    """configs/synth.yaml edited: more rural families (other settlements and photos)."""
    synth = get_synth_config()
    rate = 1 - synth.families.rural_rate / 2
    edited = synth.model_copy(
        update={"families": synth.families.model_copy(update={"rural_rate": rate})}
    )
    monkeypatch.setattr("training.synth.families.get_synth_config", lambda: edited)
    return config
