"""scripts/screenshots.py seeds and serves its throw-away demo with the settings file the demo
writes, as `shanyraq demo` does: a command the seeding or the service tells then carries that
file as --config and, pasted, acts on the screenshot's database, not the default data folder's.
The browser part is not run here."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import pytest

import serving.app
import serving.demo
from serving.core.config import load_serving_settings
from serving.demo_build import DemoPaths
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import ROOT
from tests.vision.engine_fixtures import make_artifact

SCRIPT = ROOT / "scripts" / "screenshots.py"
# Seed 0 (the script's) files a family in each demo region from 6 families generated.
N_FAMILIES = 6


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("screenshots_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record_config(monkeypatch: pytest.MonkeyPatch, told: dict[str, Any]) -> None:
    """seed_demo and create_app record the --config they are given, and still run."""
    for module, name in ((serving.demo, "seed_demo"), (serving.app, "create_app")):
        real = getattr(module, name)

        def recording(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            told[_name] = kwargs.get("config")
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)


@pytest.mark.slow
def test_the_screenshot_demo_is_seeded_and_served_with_its_settings_file(
    tmp_path, monkeypatch, fusion_dir
):
    for name in [n for n in os.environ if n.startswith("SHANYRAQ_SERVING__")]:
        monkeypatch.delenv(name)  # the demo refuses variables that would replace its settings
    told: dict[str, Any] = {}
    _record_config(monkeypatch, told)
    data_dir = tmp_path / "shots"
    model = make_artifact(tmp_path / "model", get_taxonomy(), seed=3)  # a small photo model
    paths = DemoPaths(
        model_dir=model, fusion_root=fusion_dir.parent, fusion_model=fusion_dir.name,
        data_dir=data_dir,
    )  # fmt: skip

    _, config, photos = _script().seeded_app(paths, N_FAMILIES)

    written = (data_dir / serving.demo.DEMO_CONFIG).resolve()
    assert written.is_file() and config == written
    # Before: the seeding and the app had no --config; what they told named none.
    assert told == {"seed_demo": written, "create_app": written}
    assert photos > 0 and (data_dir / serving.demo.SEED_MARKER).exists()
    loaded = load_serving_settings(config)  # what a pasted --config reads
    assert loaded.data_dir.resolve() == data_dir.resolve()
    assert str(data_dir.resolve()) in loaded.resolved_database_url  # the demo's database
