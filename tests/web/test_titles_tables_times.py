"""Error titles, the oversight and audit tables, and times shown in the site's zone.

Titles of answers of 400 or more start with "Error: " in the reader's language (WCAG 2.4.2);
every oversight plot stands beside a captioned table of its figures; the abbreviation PSI is
explained in each language; the audit log shows readable times with their zone, offers its
actions by name, fits a 1280 px window, and says when a typed action code matches nothing.
In Chromium, a refused password change also leaves focus on the field it is about.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from serving.web.i18n import translator
from tests.serving.helpers import OTHER_REGION, PASSWORD, cheap_hasher, make_settings
from tests.web.helpers import csrf_from, sign_in
from tests.web.oversight_helpers import decide_family

TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def _title(page: str) -> str:
    found = TITLE.search(page)
    assert found, "the page has no title"
    return html.unescape(found.group(1))


def _main(page: str) -> str:
    return page.split('<main id="main"', 1)[1].split("</main>", 1)[0]


# --- L3: titles of error answers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "prefix"), [("en", "Error: "), ("ru", "Ошибка: "), ("kk", "Қате: ")]
)
def test_every_answer_of_400_or_more_has_a_title_that_starts_with_error(
    web, browser_for, lang, prefix
):
    admin = browser_for("admin")
    fine = admin.get(f"/ui/oversight?lang={lang}")
    assert fine.status_code == 200 and not _title(fine.text).startswith(prefix)
    missing = admin.get("/ui/families/NO-SUCH")
    assert missing.status_code == 404 and _title(missing.text).startswith(prefix)
    refused = browser_for("inspector").get(f"/ui/oversight?lang={lang}")
    assert refused.status_code == 403 and _title(refused.text).startswith(prefix)
    # A refused form shown again: the page's own title, after the prefix.
    page = admin.get("/ui/password")
    form = {"current_password": PASSWORD, "new_password": "a" * 12, "new_password_again": "b" * 12}
    again = admin.post("/ui/password", data={**form, "csrf_token": csrf_from(page.text)})
    assert again.status_code == 422
    assert _title(again.text) == prefix + _title(page.text)


def test_a_wrong_password_at_sign_in_gives_an_error_title(web):
    plain = web.client.get("/ui/login")
    wrong = sign_in(web.client, "commission", "not the password")
    assert wrong.status_code == 401
    assert _title(wrong.text) == "Error: " + _title(plain.text)


# --- L5, L7, L8: the oversight page's tables ------------------------------------------------


def test_every_oversight_plot_stands_beside_a_captioned_table_of_its_figures(web, browser_for):
    for family_id in ("F1", "F2"):
        decide_family(web, family_id)
    decide_family(web, "F3", region=OTHER_REGION)
    page = _main(browser_for("admin_national").get("/ui/oversight").text)
    pairs = re.findall(r'<div class="pair">(.*?)</table>', page, re.S)
    assert len(pairs) == page.count("<img ")  # each plot has its own table
    for pair in pairs:
        assert pair.count("<img ") == 1 and re.search(r"<caption[^>]*>[^<]+</caption>", pair)
    region = next(p for p in pairs if ">Override rate by region</caption>" in p)
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td>', region)
    assert rows == [("Astana", "1", "1"), ("Shymkent", "2", "2")]
    reason = next(p for p in pairs if ">Overrides by reason</caption>" in p)
    assert '<th scope="row">Evidence of income</th><td>3</td>' in reason


def test_every_table_of_the_admins_pages_has_a_caption(web, browser_for):
    decide_family(web, "F1")
    admin = browser_for("admin_national")
    for address in ("/ui/oversight", "/ui/audit"):
        page = _main(admin.get(address).text)
        tables = re.findall(r"<table[^>]*>\s*(<[a-z]+)", page)
        assert tables and all(first == "<caption" for first in tables), (address, tables)


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_psi_is_explained_in_the_readers_language(browser_for, lang):
    t = translator(lang)
    page = _main(browser_for("admin").get(f"/ui/oversight?lang={lang}").text)
    full = t("oversight.psi_full")
    assert re.search(r"[а-яәғқңөұүһі]", full)  # the expansion is in the reader's words
    assert f'<abbr title="{full}">PSI</abbr>' in page
    # Wherever else PSI is written, its expansion comes first.
    bare = re.sub(r'<abbr [^>]*>PSI</abbr>|src="data:[^"]*"', "", page)  # (base64: any letters)
    assert bare.count("PSI") == bare.lower().count(f"{full.lower()} (psi)") > 0


# --- L10: times in the site's zone ----------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "zone", "expected"),
    [
        ("en", "Asia/Tashkent", "1 June 2024, 17:00 (UTC+5)"),
        ("ru", "Asia/Kolkata", "1 июня 2024 г., 17:30 (UTC+5:30)"),
        ("kk", "UTC", "2024 ж. 1 маусым, 12:00 (UTC)"),
        ("en", "America/St_Johns", "1 June 2024, 09:30 (UTC-2:30)"),
    ],
)
def test_a_time_is_shown_in_the_zone_in_the_readers_words(lang, zone, expected):
    from serving.web.times import shown_time

    moment = datetime(2024, 6, 1, 12, 0, 5, tzinfo=UTC)
    shown = str(shown_time(moment, t=translator(lang), zone=ZoneInfo(zone)))
    local = moment.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes")
    assert shown == f'<time datetime="{local}">{expected}</time>'
    stored = moment.replace(tzinfo=None).isoformat()  # naive text: UTC, as stored
    assert expected.split(" (")[0] in str(
        shown_time(stored, t=translator(lang), zone=ZoneInfo(zone))
    )


def test_the_audit_log_shows_its_times_in_the_configured_zone(web, browser_for):
    zone = ZoneInfo(web.services.settings.display_timezone)
    page = browser_for("admin_national").get("/ui/audit").text
    times = re.findall(r'<td><time datetime="([^"]+)">([^<]+)</time></td>', page)
    assert times and "UTC)</td>" not in page
    from serving.web.times import utc_offset

    for machine, text in times:
        moment = datetime.fromisoformat(machine)
        assert moment.utcoffset() == zone.utcoffset(moment.replace(tzinfo=None))
        assert text.endswith(f"({utc_offset(moment.utcoffset())})")
        assert moment.strftime("%H:%M:%S") in text and str(moment.year) in text

    web.services.settings.display_timezone = "UTC"
    page = browser_for("admin_national").get("/ui/audit?lang=ru").text
    times = re.findall(r'<td><time datetime="([^"]+)">([^<]+)</time></td>', page)
    assert times and all(m.endswith("+00:00") and t.endswith("(UTC)") for m, t in times)


def test_an_unknown_display_timezone_is_refused_at_start_up(tmp_path):
    from shanyraq.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown time zone 'Asia/Nowhere'"):
        make_settings(tmp_path, "sqlite://", display_timezone="Asia/Nowhere")


# --- L11: the audit filter ------------------------------------------------------------------


def _options(page: str) -> dict[str, str]:
    select = page.split('<select id="action" name="action">')[1].split("</select>")[0]
    return {
        v: html.unescape(label) for v, label in re.findall(r'value="([^"]*)"[^>]*>([^<]*)<', select)
    }


def test_the_audit_filter_offers_the_logs_actions_by_name(web, browser_for):
    decide_family(web, "F1")
    listed = web.client.get("/families", headers=web.headers("commission_other"))
    assert listed.status_code == 200  # audited as families_listed, by another region's member
    admin = browser_for("admin")  # of REGION: sees what people of the region did
    options = _options(admin.get("/ui/audit?lang=ru").text)
    assert options[""] == "Любое действие"
    assert options["decision_recorded"] == "Решение записано"
    assert options["login"] == "Вход в систему"
    assert "families_listed" not in options
    national = _options(browser_for("admin_national").get("/ui/audit?lang=kk").text)
    assert national["families_listed"] == "Отбасылар тізімі қаралды"
    chosen = admin.get("/ui/audit?action=decision_recorded").text
    assert 'value="decision_recorded" selected' in chosen
    rows = re.findall(r"<tbody>(.*?)</tbody>", chosen, re.S)[0].count("<tr>")
    assert rows == 1 and 'id="audit-unknown"' not in chosen


def test_a_typed_action_code_wins_and_a_typo_is_pointed_out(web, browser_for):
    decide_family(web, "F1")
    admin = browser_for("admin_national")
    typed = admin.get("/ui/audit?action=login&code=decision_recorded").text
    assert 'value="decision_recorded" selected' in typed
    assert re.findall(r"<tbody>(.*?)</tbody>", typed, re.S)[0].count("<tr>") == 1
    typo = admin.get("/ui/audit?code=decision_recordd").text
    assert 'id="action-code" name="code" value="decision_recordd"' in typo
    note = re.search(r'<p class="warn" role="status" id="audit-unknown">(.*?)</p>', typo)
    assert note and "decision_recordd" in html.unescape(note.group(1))
    assert "Entries shown: 0" in typo


# --- L6: the audit log fits the window, in a real browser -----------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from serving import audit
    from serving.core import security
    from serving.db.session import session_scope
    from tests.web import live

    root = tmp_path_factory.mktemp("audit-live")
    with pytest.MonkeyPatch.context() as patch:  # argon2 at its lowest cost in tests
        patch.setattr(security, "_HASHER", cheap_hasher())
        running = live.start(make_settings(root, f"sqlite:///{root / 'web.db'}"))
        services = running.app.state.services
        with session_scope(services.sessions) as session:  # entries with long unbroken values
            for n in range(3):
                audit.append(
                    session, services.signing_key, actor="admin", action="photo_uploaded",
                    target=f"photo:{'a' * 60}{n}",
                    details={"sha256": f"{n}" * 64, "previous_sha256": "f" * 64 + "e" * 11},
                )  # fmt: skip
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def signed_in(browser: Any, server: Any) -> Iterator[Any]:
    """Factory: a page at 1280 x 900 in a fresh context, signed in through the form."""
    contexts: list[Any] = []

    def factory(username: str) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{server.url}/ui/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.press("#password", "Enter")
        return page

    yield factory
    for context in contexts:
        context.close()


@pytest.mark.integration
@pytest.mark.slow
def test_the_audit_log_fits_a_1280_px_window(signed_in, server):
    page = signed_in("admin_national")
    page.goto(f"{server.url}/ui/audit")
    assert page.locator("table.audit td", has_text="f" * 64).count() == 3
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " document.querySelector('table.audit').getBoundingClientRect().right]"
    )
    scroll_width, window_width, table_right = widths
    assert scroll_width <= window_width and table_right <= window_width, widths


@pytest.mark.integration
@pytest.mark.slow
def test_after_a_password_mismatch_focus_is_on_the_new_password_and_the_title_says_error(
    signed_in, server
):
    page = signed_in("annotator")
    page.goto(f"{server.url}/ui/password")
    page.fill("#current-password", PASSWORD)
    page.fill("#new-password", "a brand new pass phrase")
    page.fill("#new-password-again", "a brand new pass phrase!")
    with page.expect_navigation():
        page.press("#new-password-again", "Enter")
    # The answer's page, not the form still shown (seen once: the old page's field, with no
    # aria-describedby, was read before the answer replaced it).
    page.locator("#password-error").wait_for()
    state = page.evaluate(
        """() => {
        const el = document.activeElement;
        return {focused: el.id, invalid: el.getAttribute('aria-invalid'),
                described: (el.getAttribute('aria-describedby') || '').split(' ')
                    .map(id => document.getElementById(id).textContent.trim()),
                values: [...document.querySelectorAll('input[type=password]')].map(i => i.value),
                title: document.title};
    }"""
    )
    assert state["focused"] == "new-password" and state["invalid"] == "true"
    mismatch = "The two new passwords differ: type the same new password twice."
    assert state["described"][0] == mismatch
    assert state["values"] == ["", "", ""]
    assert state["title"].startswith("Error: Change password")
