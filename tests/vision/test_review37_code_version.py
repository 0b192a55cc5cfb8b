"""An export stamps model.json with `shanyraq.provenance.code_version` as that module holds it
when the export runs (read through the module, as welfare and serving read it).

Before, vision/export.py imported the function by name, so a code version replaced in
shanyraq.provenance (a packaged build pinning its own, a test) did not reach the artifact.
"""

from __future__ import annotations

import numpy as np
import pytest

from vision.artifact import read_artifact
from vision.export import ExportRequest, export_artifact
from vision.model import create_model, model_preprocessing

PATCHED = "9.9.9+0123456789ab"  # no checkout computes this: only the replaced function gives it
TRAINED_WITH = "0.1.0+feedfacecafe"  # the training code's, as run.json records it


@pytest.fixture
def patched_version(monkeypatch):
    monkeypatch.setattr("shanyraq.provenance.code_version", lambda folder=None: PATCHED)


def exported(tmp_path, taxonomy, *, trained_with: str | None):
    model = create_model("shanyraq_test", taxonomy=taxonomy).eval()
    request = ExportRequest(
        variant="shanyraq_test",
        preprocessing=model_preprocessing(model, size=32),
        model_version="test-1",
        trained_with=trained_with,
    )
    photos = [np.random.default_rng(i).integers(0, 256, (40, 48, 3), np.uint8) for i in range(2)]
    folder = tmp_path / "model"
    artifact = export_artifact(
        model, folder, request=request, taxonomy=taxonomy, parity_images=photos
    )
    return artifact, read_artifact(folder)


@pytest.mark.usefixtures("patched_version")
def test_an_export_records_the_code_version_the_provenance_module_gives(tmp_path, taxonomy):
    artifact, saved = exported(tmp_path, taxonomy, trained_with=None)
    assert artifact.code_version == saved.code_version == PATCHED


@pytest.mark.usefixtures("patched_version")
def test_a_re_export_records_the_exporting_code_version_the_module_gives(tmp_path, taxonomy):
    """The training code's version stays the artifact's; the exporting code's is said beside."""
    artifact, saved = exported(tmp_path, taxonomy, trained_with=TRAINED_WITH)
    assert saved.code_version == TRAINED_WITH, saved
    assert artifact.exported_with["shanyraq"] == saved.exported_with["shanyraq"] == PATCHED
