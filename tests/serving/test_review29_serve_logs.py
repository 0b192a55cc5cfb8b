"""Review 29: `shanyraq serve` set up no logging for the app: its INFO lines ("service ready")
never appeared and its warnings came out bare, through Python's last resort, beside uvicorn's
own lines. Now one handler writes every line, the app's and uvicorn's, once, with its UTC time,
level and logger name, at serving.yaml's `log_level`."""

from __future__ import annotations

import re
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from serving.core.config import load_serving_settings
from shanyraq.errors import ConfigError
from tests.serving.helpers import ROOT
from tests.serving.subprocess_runs import EXIT_BOUND_S, ended, log_lines, start_serve


def _serve_until_it_answers(tmp_path: Path, **settings: Any) -> tuple[str, str]:
    """Run `shanyraq serve` on a fresh data folder left open to other users (a warning at
    start), until it answers /health (once, with 200), then stop it; its stdout and stderr."""
    process, _ = start_serve(tmp_path, data_mode=0o755, shutdown_requests_s=1, **settings)
    process.send_signal(signal.SIGTERM)
    return ended(process, bound_s=EXIT_BOUND_S, what="serve, sent SIGTERM,")


def _utc_time(line: re.Match[str]) -> datetime:
    moment = datetime.fromisoformat(line["time"])
    assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0, line[0]
    return moment


@pytest.mark.slow  # `serve` starts in a process of its own
def test_serve_logs_the_apps_lines_and_uvicorns_once_each_with_time_level_and_name(tmp_path):
    stdout, stderr = _serve_until_it_answers(tmp_path)
    ready = log_lines(stderr, name="serving.app", message="service ready (")
    assert [line["level"] for line in ready] == ["INFO"], stderr  # before: not at all
    started = log_lines(stderr, name="uvicorn.error", message="Started server process")
    assert [line["level"] for line in started] == ["INFO"], stderr
    asked = log_lines(stderr, name="uvicorn.access", message="127.0.0.1:")
    assert len(asked) == 1 and '"GET /health HTTP/1.1" 200' in asked[0]["message"], stderr
    opened = log_lines(stderr, name="serving.data_dir", message="data folder ")
    assert [line["level"] for line in opened] == ["WARNING"], stderr  # before: a bare line
    assert _utc_time(started[0]) <= _utc_time(ready[0]) <= _utc_time(asked[0])
    # Written once, in this format: not again in uvicorn's own ("INFO:     ...") nor on stdout.
    assert not re.search(r"^(INFO|WARNING|ERROR):", stderr, re.MULTILINE), stderr
    assert stderr.count("Started server process") == stderr.count("service ready (") == 1
    assert stdout == ""


@pytest.mark.slow
def test_serve_at_log_level_warning_leaves_out_the_info_lines_and_keeps_warnings(tmp_path):
    _, stderr = _serve_until_it_answers(tmp_path, log_level="warning")
    assert "service ready" not in stderr and "Started server process" not in stderr, stderr
    assert "GET /health" not in stderr, stderr
    opened = log_lines(stderr, name="serving.data_dir", message="data folder ")
    assert [line["level"] for line in opened] == ["WARNING"], stderr


def _config(tmp_path: Path, **settings: Any) -> Path:
    path = tmp_path / "serving.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path), **settings}), encoding="utf-8")
    return path


def test_the_shipped_log_level_is_info_and_a_site_config_without_it_gets_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SHANYRAQ_SERVING__LOG_LEVEL", raising=False)
    shipped = yaml.safe_load((ROOT / "configs" / "serving.yaml").read_text())
    assert shipped["log_level"] == "info"
    assert load_serving_settings(_config(tmp_path)).log_level == "info"


def test_the_log_level_is_read_from_the_environment_in_any_case(tmp_path, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_SERVING__LOG_LEVEL", "WARNING")
    assert load_serving_settings(_config(tmp_path, log_level="debug")).log_level == "warning"


@pytest.mark.parametrize("value", ["verbose", "trace", "", 20])
def test_a_log_level_that_is_no_level_name_is_refused_naming_the_key(tmp_path, value):
    # trace: uvicorn's own level below debug, no level of Python's logging.
    with pytest.raises(ConfigError, match=r"key 'log_level': Input should be 'critical', 'error'"):
        load_serving_settings(_config(tmp_path, log_level=value))
