"""Review of the oversight page (helper-199): a drift PSI beside its alert line is never
rounded onto it, and a side of the drift comparison with no photos reads "no data", not 0 %."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving import reports
from tests.serving.helpers import PASSWORD, Service, started
from tests.web.helpers import sign_in


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Service]:
    with started(tmp_path) as service:
        yield service


def _page(web: Service, *, lang: str = "en") -> str:
    client = TestClient(web.app, base_url="http://127.0.0.1")
    assert sign_in(client, "admin", PASSWORD).status_code == 303
    answer = client.get(f"/ui/oversight?lang={lang}")
    assert answer.status_code == 200, answer.text
    return html.unescape(answer.text)


def _drift(room: dict[str, Any], *, alert_psi: float, photos: int = 50) -> dict[str, Any]:
    """A drift report (as reports.drift shapes it) with the given room head."""
    condition = reports._head({}, {"photos": 0, "shares": {}}, base_photos=None,
                              alert_psi=alert_psi, min_photos=5)  # fmt: skip
    return {
        "photos": photos, "model_version": "m1", "reference_model_version": "m1",
        "photos_other_models": 0, "photos_without_numbers": 0,
        "reference": reports.DRIFT_REFERENCES["training_data"],
        "reference_code": "training_data", "heads": {"room": room, "condition": condition},
        "alert_psi": alert_psi, "min_photos": 5, "note": "",
    }  # fmt: skip


def _serve(monkeypatch: pytest.MonkeyPatch, drift: dict[str, Any]) -> None:
    monkeypatch.setattr(reports, "serving_drift", lambda *a, **k: drift)


def _psi_cell(page: str) -> str:
    row = page.split('id="cap-drift"')[1].split("</tr>")[1]
    return row.split("<td>")[1].split("</td>")[0]


def test_a_psi_just_under_the_alert_is_not_shown_on_it(web, monkeypatch):
    # 0.2496 < 0.25: stable, and read so; at two decimals it would print "0.25" beside
    # "A PSI above 0.25", with a "stable" badge that then reads as a contradiction.
    reference = {"kitchen": 0.5, "bedroom": 0.5}
    room = reports._head(reference, {"photos": 50, "shares": {"kitchen": 0.5, "bedroom": 0.5}},
                         base_photos=50, alert_psi=0.25, min_photos=5)  # fmt: skip
    room["psi"] = 0.2496
    _serve(monkeypatch, _drift(room, alert_psi=0.25))
    page = _page(web)
    assert _psi_cell(page) == "0.2496"
    assert "PSI 0.2496" in page  # the plot's text alternative too
    assert "PSI 0.25<" not in page and "PSI 0.25;" not in page


def test_a_psi_away_from_the_alert_keeps_two_decimals(web, monkeypatch):
    reference = {"kitchen": 0.5, "bedroom": 0.5}
    room = reports._head(reference, {"photos": 50, "shares": {"kitchen": 0.5, "bedroom": 0.5}},
                         base_photos=50, alert_psi=0.25, min_photos=5)  # fmt: skip
    room["psi"] = 0.0123
    _serve(monkeypatch, _drift(room, alert_psi=0.25))
    assert _psi_cell(_page(web)) == "0.01"


def test_a_side_with_no_photos_reads_no_data_not_zero_percent(web, monkeypatch):
    from serving.web.i18n import translator
    from serving.web.plots import row_label

    reference = {"kitchen": 0.6, "bedroom": 0.4}
    room = reports._head(reference, {"photos": 0, "shares": {}}, base_photos=50,
                         alert_psi=0.25, min_photos=5)  # fmt: skip
    _serve(monkeypatch, _drift(room, alert_psi=0.25, photos=0))
    for lang in ("en", "ru", "kk"):
        t = translator(lang)
        page = _page(web, lang=lang)
        table = page.split('id="cap-drift-room"')[1].split("</table>")[0]
        named = row_label(t.label("room", "kitchen"))  # as the table's row names it
        kitchen = table.split(named + "</th>")[1].split("</tr>")[0]
        cells = re.findall(r"<td>(.*?)</td>", kitchen)
        assert cells == [t.percent(0.6), t("oversight.no_data")], lang  # not 0 % of no photos
        shown = t("oversight.drift_share", label=named,
                  reference=t.percent(0.6), current=t("oversight.no_data"))  # fmt: skip
        assert shown in page  # the plot's text alternative says the same
