"""The command line: groups listed, help at every level, nothing heavy imported for --help."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from shanyraq.cli import REGISTRY, build_app


def test_help_lists_every_registered_group():
    result = CliRunner().invoke(build_app(), ["--help"])
    assert result.exit_code == 0
    for _, name, _ in REGISTRY:
        assert name in result.output


def test_every_group_has_help():
    runner = CliRunner()
    app = build_app()
    for _kind, name, _ in REGISTRY:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage" in result.output


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from shanyraq.cli import build_app; build_app();"
        "heavy = [m for m in ('torch', 'onnxruntime', 'timm', 'albumentations', 'sklearn',"
        " 'lightgbm', 'fastapi', 'cv2') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_domain_error_is_one_clear_line(tmp_path):
    missing = tmp_path / "nope.csv"
    out = subprocess.run(
        [sys.executable, "-m", "shanyraq.cli", "data", "check", str(missing)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error [manifest_invalid]:")
    assert "Traceback" not in out.stderr
