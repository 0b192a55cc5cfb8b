"""The limits on a reason in words come from configs/serving.yaml `reason_chars`: a service
started on a configs copy with other limits admits and refuses decisions and room corrections
at those limits (the refusals keep their codes, fields and words, naming the configured
figure); a limit that is no whole number of at least 1, an override minimum above the decision
maximum, or a maximum no request could carry is refused at start, naming the key; and a site's
serving.yaml without the key, or with only some limits, gets the shipped ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.core.config import load_serving_settings
from shanyraq.config import default_configs_dir, read_yaml
from shanyraq.errors import ConfigError
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.decision_helpers import OVERRIDE, assess, count_decisions, decide
from tests.serving.helpers import Service, jpeg, started

# Other limits than the shipped ones, each distinct, so an answer naming one names that one.
LIMITS = {"override_min": 12, "decision_max": 50, "room_correction_max": 20}


@pytest.fixture
def limited(tmp_path: Path, edit_config: Any) -> Any:
    """A started app (SQLite) on a copy of configs/ whose serving.yaml has LIMITS."""
    edit_config("serving.yaml", lambda data: data.update(reason_chars=dict(LIMITS)))
    with started(tmp_path) as service:
        yield service


def _filed(service: Service) -> int:
    service.create_family("F1")
    response = service.upload("F1", jpeg(91), data={"room_hint": "kitchen"})
    assert response.status_code == 201, response.text
    return int(response.json()["photo_id"])


def _correct(service: Service, photo_id: int, reason: str, room: str = "bathroom") -> Any:
    return service.client.put(
        f"/families/F1/photos/{photo_id}/room", headers=service.headers("inspector"),
        json={"room_hint": room, "reason": reason},
    )  # fmt: skip


# --- the shipped limits ---------------------------------------------------------------------


def test_the_shipped_limits_are_unchanged_and_a_site_without_the_key_gets_them(tmp_path):
    shipped = read_yaml(default_configs_dir() / "serving.yaml")["reason_chars"]
    assert shipped == {"override_min": 10, "decision_max": 2000, "room_correction_max": 500}
    site = tmp_path / "serving.yaml"
    site.write_text(f"data_dir: {tmp_path}\n")
    assert load_serving_settings(site).reason_chars.model_dump() == shipped
    site.write_text(f"data_dir: {tmp_path}\nreason_chars:\n  room_correction_max: 20\n")
    partial = load_serving_settings(site).reason_chars.model_dump()
    assert partial == {**shipped, "room_correction_max": 20}


def test_a_limit_is_read_from_its_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SHANYRAQ_SERVING__REASON_CHARS__DECISION_MAX", "50")
    site = tmp_path / "serving.yaml"
    site.write_text(f"data_dir: {tmp_path}\n")
    assert load_serving_settings(site).reason_chars.decision_max == 50


# --- a service with other limits --------------------------------------------------------------


def test_a_decision_is_admitted_and_refused_at_the_configured_limits(limited):
    limited.create_family("F1")
    aid = assess(limited, level=3)
    too_short = decide(limited, aid, {**OVERRIDE, "reason": "y" * 11})
    assert too_short.status_code == 422, too_short.text
    assert too_short.json()["refusal"] == "reason_too_short"
    assert "at least 12 characters" in too_short.json()["message"]
    too_long = decide(limited, aid, {**OVERRIDE, "reason": "x" * 30 + "\r\n" + "z" * 20})
    assert too_long.status_code == 422, too_long.text
    assert too_long.json()["refusal"] == "reason_too_long"
    assert "at most 50 characters" in too_long.json()["message"]
    assert count_decisions(limited) == 0
    # 50 once the CRLF is one line break, as stored: admitted; so is an override of 12.
    at_most = decide(limited, aid, {**OVERRIDE, "reason": "x" * 29 + "\r\n" + "z" * 20})
    assert at_most.status_code == 201, at_most.text
    assert at_most.json()["reason"] == "x" * 29 + "\n" + "z" * 20
    aid = assess(limited, level=3)
    assert decide(limited, aid, {**OVERRIDE, "reason": "y" * 12}).status_code == 201


def test_a_room_correction_is_admitted_and_refused_at_the_configured_limit(limited):
    photo_id = _filed(limited)
    refused = _correct(limited, photo_id, "x" * 10 + "\r\n" + "y" * 10)  # 21 as stored
    assert refused.status_code == 422, refused.text
    answer = refused.json()
    assert answer["code"] == "request_invalid"
    assert answer["details"] == [
        {
            "where": "body.reason",
            "problem": "Value error, the reason may hold at most 20 characters (a line break "
            "counts as one); shorten it",
        }
    ]
    empty = _correct(limited, photo_id, " \r\n ")
    assert empty.status_code == 422, empty.text
    assert [d["where"] for d in empty.json()["details"]] == ["body.reason"]
    admitted = _correct(limited, photo_id, "x" * 9 + "\r\n" + "y" * 10)  # 20 as stored
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["room_hint"] == "bathroom"


def test_a_too_long_room_reason_is_refused_before_the_photo_is_looked_up(limited):
    """As when the body's own check refused it: 422 for the body, not 404 for the photo."""
    limited.create_family("F1")
    refused = _correct(limited, 99999, "x" * 21)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "request_invalid"


# --- limits refused at start ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "key", "said"),
    [
        ({"decision_max": 5}, "reason_chars.override_min", "above reason_chars.decision_max"),
        ({"room_correction_max": 0}, "reason_chars.room_correction_max", "greater than or equal"),
        ({"override_min": 0}, "reason_chars.override_min", "greater than or equal to 1"),
        ({"decision_max": "many"}, "reason_chars.decision_max", "valid integer"),
        ({"decision_max": 20.5}, "reason_chars.decision_max", "fractional part"),
        ({"override_min": True}, "reason_chars.override_min", "not true or false"),
        ({"decision_max": 2_000_000}, "reason_chars.decision_max (2000000)", "largest body"),
        ({"room_limit": 5}, "reason_chars.room_limit", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_limit_is_refused_at_start_naming_the_key(tmp_path, limits, key, said):
    import yaml

    site = tmp_path / "serving.yaml"
    values = {"data_dir": str(tmp_path / "data"), "reason_chars": limits}
    site.write_text(yaml.safe_dump(values), encoding="utf-8")
    ran = run_cli("serve", "--port", "0", "--config", site)
    assert ran.exit_code != 0 and error_code(ran) == "config_invalid", ran.output
    message = str(ran.exception)
    assert key in message and said in message, message
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_a_maximum_above_a_smaller_body_limit_is_refused():
    with pytest.raises(ConfigError, match=r"reason_chars\.room_correction_max \(500\)"):
        load_serving_settings(max_body_bytes=400, reason_chars={"decision_max": 300})
