"""The API's OpenAPI says the reason limits the running service checks (configs/serving.yaml
`reason_chars`): the decision body's and the room correction body's `reason` name each app's
own numbers beside the key an operator changes, two apps in one process each their own; and
the shipped serving.yaml a site leaves limits out of is read once for all of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serving.core import reason_chars
from serving.core.reason_chars import ReasonChars
from shanyraq.config import default_configs_dir, read_yaml
from tests.serving.helpers import make_settings, started

# Other limits than the shipped ones, each distinct, so a description naming one names that one.
LIMITS = {"override_min": 13, "decision_max": 1234, "room_correction_max": 77}
OTHER = {"override_min": 21, "decision_max": 987, "room_correction_max": 45}


def _reasons(spec: dict[str, Any]) -> tuple[str, str]:
    """The descriptions of the decision body's and the room correction body's `reason`."""
    schemas = spec["components"]["schemas"]
    return (
        schemas["DecisionIn"]["properties"]["reason"]["description"],
        schemas["RoomCorrectionIn"]["properties"]["reason"]["description"],
    )


def _says(spec: dict[str, Any], limits: dict[str, int]) -> None:
    decision, room = _reasons(spec)
    assert f"at most {limits['decision_max']} characters" in decision, decision
    assert f"at least {limits['override_min']} characters" in decision, decision
    assert f"at most {limits['room_correction_max']} characters" in room, room
    # The keys stay named, so an operator knows where to change a limit.
    assert "`reason_chars.decision_max`" in decision
    assert "`reason_chars.override_min`" in decision
    assert "`reason_chars.room_correction_max`" in room
    # A line break is one character: the text says so (no JSON Schema maxLength could).
    for said in (decision, room):
        assert "counted as one" in said
    assert "maxLength" not in spec["components"]["schemas"]["DecisionIn"]["properties"]["reason"]


def test_a_service_with_other_limits_says_them_in_its_openapi(tmp_path: Path) -> None:
    with started(tmp_path, reason_chars=dict(LIMITS)) as service:
        response = service.client.get("/openapi.json")
        assert response.status_code == 200
        _says(response.json(), LIMITS)
        # Asked again, the same numbers (filled once, not twice).
        assert _reasons(service.client.get("/openapi.json").json()) == _reasons(response.json())


def test_the_default_service_says_the_shipped_limits(tmp_path: Path) -> None:
    shipped = read_yaml(default_configs_dir() / "serving.yaml")["reason_chars"]
    with started(tmp_path) as service:
        _says(service.client.get("/openapi.json").json(), shipped)


def test_two_apps_in_one_process_each_say_their_own(tmp_path: Path) -> None:
    from serving.app import create_app

    first = create_app(make_settings(tmp_path / "a", "sqlite://", reason_chars=dict(LIMITS)))
    second = create_app(make_settings(tmp_path / "b", "sqlite://", reason_chars=dict(OTHER)))
    first_spec, second_spec = first.openapi(), second.openapi()
    _says(first_spec, LIMITS)
    _says(second_spec, OTHER)
    # Neither's schema was changed by the other's, nor the models' own schema by either.
    _says(first.openapi(), LIMITS)
    from serving.api.assessment_schemas import DecisionIn

    own = DecisionIn.model_json_schema()["properties"]["reason"]["description"]
    assert str(LIMITS["decision_max"]) not in own and str(OTHER["decision_max"]) not in own
    assert "`reason_chars.decision_max`" in own


@pytest.mark.parametrize(
    ("given", "reads"),
    [
        ({}, 1),
        ({"decision_max": 50}, 1),
        ({"override_min": 5, "decision_max": 50}, 1),
        ({"override_min": 5, "decision_max": 50, "room_correction_max": 9}, 0),
    ],
)
def test_the_shipped_file_is_read_once_per_limits_built(
    monkeypatch: pytest.MonkeyPatch, given: dict[str, int], reads: int
) -> None:
    paths: list[Path] = []

    def counted(path: Path) -> Any:
        paths.append(path)
        return read_yaml(path)

    monkeypatch.setattr(reason_chars, "read_yaml", counted)
    shipped = read_yaml(default_configs_dir() / "serving.yaml")["reason_chars"]
    limits = ReasonChars(**given)
    assert paths == [default_configs_dir() / "serving.yaml"] * reads
    assert limits.model_dump() == {**shipped, **given}
    paths.clear()
    ReasonChars.model_validate(given)  # as the settings build it, from their YAML's mapping
    assert len(paths) == reads


def test_a_changed_shipped_file_is_followed(edit_config: Any) -> None:
    """Each construction reads the shipped file as it is now (nothing kept between)."""
    assert (
        ReasonChars().decision_max
        == read_yaml(default_configs_dir() / "serving.yaml")["reason_chars"]["decision_max"]
    )
    edit_config("serving.yaml", lambda data: data["reason_chars"].update(decision_max=345))
    assert ReasonChars().decision_max == 345
    edit_config("serving.yaml", lambda data: data["reason_chars"].update(decision_max=346))
    assert ReasonChars().decision_max == 346
