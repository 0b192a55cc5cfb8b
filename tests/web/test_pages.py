"""Page routes without a browser: sign-in cookie, CSRF, access by role and region, decisions."""

from __future__ import annotations

from sqlalchemy import select

from serving.db.models import AuditEntry, Decision
from tests.serving.helpers import OTHER_REGION, PASSWORD, jpeg
from tests.web.helpers import blurred_photo, csrf_from, sign_in


def _audit(web, action):
    with web.services.sessions() as session:
        return list(
            session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars()
        )


def test_sign_in_sets_a_strict_http_only_cookie_for_pages_only(web):
    answer = sign_in(web.client, "commission", PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/families"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "shanyraq_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert web.client.get("/ui/families").status_code == 200
    # The cookie opens pages only: the API still wants an explicit bearer header.
    token = web.client.cookies.get("shanyraq_session")
    api = web.client.get("/families", headers={"Cookie": f"shanyraq_session={token}"})
    assert api.status_code == 401


def test_wrong_password_is_refused_on_the_page_and_audited(web):
    answer = sign_in(web.client, "commission", "not the password")
    assert answer.status_code == 401 and "Wrong user name or password" in answer.text
    assert "shanyraq_session" not in answer.headers.get("set-cookie", "")
    assert [e.actor for e in _audit(web, "login_failed")] == ["commission"]


def test_anonymous_reader_is_sent_to_sign_in_and_back(web):
    answer = web.client.get("/ui/families/F1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=/ui/families/F1"
    page = web.client.get("/ui/login?next=/ui/families")
    answer = web.client.post(
        "/ui/login",
        data={
            "username": "commission",
            "password": PASSWORD,
            "next": "/ui/families",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/ui/families"


def test_sign_in_never_redirects_off_the_pages(web):
    for target in ("https://evil.example/", "//evil.example/ui/", "/ui//evil", "/families"):
        page = web.client.get("/ui/login")  # each sign-in renews the sign-in form's token
        answer = web.client.post(
            "/ui/login",
            data={
                "username": "admin",
                "password": PASSWORD,
                "next": target,
                "csrf_token": csrf_from(page.text),
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/ui/oversight", target


def test_form_posts_without_the_csrf_token_are_refused(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1")
    assessment_id = page.text.split('name="assessment_id" value="')[1].split('"')[0]
    body = {
        "assessment_id": assessment_id,
        "kind": "override",
        "level": "2",
        "reason_code": "income_evidence",
        "reason": "Employer letter shows arrears.",
    }
    for token in ("", "0" * 64):
        answer = commission.post("/ui/families/F1/decisions", data={**body, "csrf_token": token})
        assert answer.status_code == 403 and "<h1>Not allowed</h1>" in answer.text
    with web.services.sessions() as session:
        assert session.execute(select(Decision)).first() is None


def test_roles_and_regions_are_enforced_as_pages(web, browser_for):
    web.create_family("F1")
    inspector = browser_for("inspector")
    forbidden = inspector.get("/ui/oversight")
    assert forbidden.status_code == 403 and forbidden.headers["content-type"].startswith(
        "text/html"
    )
    assert inspector.get("/ui/families").status_code == 403  # the list is for commissions
    other = browser_for("commission_other")
    missing = other.get("/ui/families/F1")
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
    assert "F1" not in other.get("/ui/families").text
    assert other.get("/ui/no-such-page").status_code == 404


def test_override_needs_a_reason_and_is_recorded_and_audited(web, browser_for):
    web.create_family("F1")
    web.upload("F1", jpeg(1))
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1")
    assert "Advisory only." in page.text
    form = {
        "csrf_token": csrf_from(page.text),
        "kind": "override",
        "level": "2",
        "reason_code": "income_evidence",
        "assessment_id": page.text.split('name="assessment_id" value="')[1].split('"')[0],
    }
    refused = commission.post("/ui/families/F1/decisions", data={**form, "reason": "short"})
    assert refused.status_code == 422 and "at least 10 characters" in refused.text
    assert 'value="2" selected' in refused.text  # what was entered is kept
    done = commission.post(
        "/ui/families/F1/decisions",
        data={**form, "reason": "Employer letter shows arrears."},
        follow_redirects=False,
    )
    assert done.status_code == 303
    history = commission.get(done.headers["location"])
    assert "The decision was recorded." in history.text
    assert "Employer letter shows arrears." in history.text
    recorded = _audit(web, "decision_recorded")
    assert len(recorded) == 1 and recorded[0].actor == "commission"
    assert recorded[0].details["reason_code"] == "income_evidence"
    views = [e for e in _audit(web, "page_viewed") if e.target == "family:F1"]
    assert len(views) == 3 and all(e.details["page"] == "family" for e in views)


def test_family_list_puts_needs_review_first_and_filters(web, browser_for):
    for fid in ("F1", "F2"):
        web.create_family(fid)
    # F2 gets a record with income far above the poverty line: not needs_review by income alone.
    commission = browser_for("commission")
    commission.get("/ui/families/F1")  # assess F1 (no photos: needs_review)
    listing = commission.get("/ui/families").text
    assert listing.index("F1") < listing.index("F2")
    assert "missing photos" in listing
    only = commission.get("/ui/families?status=not_assessed").text
    assert "/ui/families/F2" in only and "/ui/families/F1" not in only
    assert commission.get("/ui/families?level=9").status_code == 422
    assert commission.get("/ui/families?status=bogus").status_code == 422


def test_inspector_upload_form_shows_the_retake_hint(web, browser_for):
    web.create_family("F1")
    inspector = browser_for("inspector")
    page = inspector.get("/ui/upload?family=F1")
    assert 'accept="image/*"' in page.text and "capture=" in page.text
    files = [
        ("files", ("blur.jpg", blurred_photo(1), "image/jpeg")),
        ("files", ("notes.txt", b"not a photo", "text/plain")),
    ]
    data = {"csrf_token": csrf_from(page.text), "family_id": "F1"}
    answer = inspector.post("/ui/upload", data=data, files=files)
    assert answer.status_code == 200
    assert "The photo is blurred. Hold the phone still" in answer.text
    assert "notes.txt" in answer.text and "not a photo the system can read" in answer.text
    fragment = inspector.post(
        "/ui/upload", data=data, files=files[:1], headers={"X-Requested-With": "fetch"}
    )
    assert "<html" not in fragment.text and "already filed for this family" in fragment.text
    assert len(_audit(web, "photo_uploaded")) == 1


def test_inspector_cannot_upload_to_another_regions_family(web, browser_for):
    web.create_family("F9", region=OTHER_REGION)
    inspector = browser_for("inspector")
    page = inspector.get("/ui/upload")
    assert "F9" not in page.text
    answer = inspector.post(
        "/ui/upload",
        data={"csrf_token": csrf_from(page.text), "family_id": "F9"},
        files=[("files", ("a.jpg", jpeg(2), "image/jpeg"))],
    )
    assert answer.status_code == 404
    assert not _audit(web, "photo_uploaded")


def test_heat_map_without_model_pt_says_it_is_unavailable(web, browser_for):
    web.create_family("F1")
    photo = web.upload("F1", jpeg(1)).json()
    commission = browser_for("commission")
    assert "Heat maps are not available" in commission.get("/ui/families/F1").text
    base = f"/ui/photos/{photo['photo_id']}"
    assert commission.get(f"{base}/heatmap/damp_mould").status_code == 503
    assert commission.get(f"{base}/heatmap/no_such_sign").status_code == 404
    image = commission.get(f"{base}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"


def test_pages_speak_kazakh_and_russian_and_remember_the_choice(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")
    kazakh = commission.get("/ui/families/F1?lang=kk")
    assert '<html lang="kk">' in kazakh.text and "Тек ұсыныс." in kazakh.text
    assert '<html lang="kk">' in commission.get("/ui/families").text  # remembered
    russian = commission.get("/ui/families", headers={"Accept-Language": "ru"})
    assert '<html lang="kk">' in russian.text  # a choice beats the browser's preference
    fresh = browser_for("admin")
    assert "Надзор" in fresh.get("/ui/oversight", headers={"Accept-Language": "ru-RU,ru"}).text


def test_pages_send_safe_headers(web, browser_for):
    commission = browser_for("commission")
    answer = commission.get("/ui/families")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"
    assert web.client.get("/", follow_redirects=False).headers["location"] == "/ui/"


def test_only_a_national_admin_verifies_the_whole_chain_on_the_page(web, browser_for):
    web.create_family("F1")
    regional = browser_for("admin").get("/ui/audit?verify=true")  # admin of one region
    assert regional.status_code == 200
    assert 'name="verify"' not in regional.text and "The chain is" not in regional.text
    assert "Only a national administrator can verify" in regional.text
    national = browser_for("admin_national").get("/ui/audit?verify=true")
    assert 'name="verify"' in national.text and "The chain is intact" in national.text


def test_signing_out_revokes_the_session_not_only_the_cookie(web, browser_for):
    commission = browser_for("commission")
    token = commission.cookies.get("shanyraq_session")
    page = commission.get("/ui/families")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    out = commission.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    # A copy of the old cookie (kept by an attacker, or a second tab) no longer opens pages,
    # and the token inside it no longer opens the API.
    stale = web.client.get(
        "/ui/families", headers={"Cookie": f"shanyraq_session={token}"}, follow_redirects=False
    )
    assert stale.status_code == 303
    assert stale.headers["location"] == "/ui/login?next=/ui/families"
    api = web.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401 and "signed out" in api.json()["message"]
    assert [e.actor for e in _audit(web, "logout")] == ["commission"]


def _assessment_id(html):
    return html.split('name="assessment_id" value="')[1].split('"')[0]


def test_a_decided_level_outside_the_welfare_levels_is_refused(web, browser_for):
    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1")
    form = {
        "csrf_token": csrf_from(page.text), "kind": "override", "level": "9",
        "reason_code": "income_evidence", "reason": "Employer letter shows arrears.",
        "assessment_id": _assessment_id(page.text),
    }  # fmt: skip
    refused = commission.post("/ui/families/F1/decisions", data=form, follow_redirects=False)
    assert refused.status_code == 422 and "one of 1, 2, 3, 4, 5, 6" in refused.text
    with web.services.sessions() as session:
        assert session.execute(select(Decision)).first() is None


def _decide_after_the_fusion_model_went(web, browser_for):
    """A commission member opens F1's page; its assessment then reads as made by a fusion
    model this service lacks (replaced, or lost in a restart); the member records an
    override from the page. (client, the assessment id, the answer)."""
    from serving.db.models import Assessment
    from serving.db.session import session_scope

    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1")
    first = int(_assessment_id(page.text))
    with session_scope(web.services.sessions) as session:
        row = session.get(Assessment, first)
        row.model_versions = {**row.model_versions, "fusion": "lgbm_tabular-000000000000"}
    form = {
        "csrf_token": csrf_from(page.text), "kind": "override", "level": "2",
        "reason_code": "income_evidence", "reason": "Employer letter shows arrears.",
        "assessment_id": str(first),
    }  # fmt: skip
    return commission, first, commission.post("/ui/families/F1/decisions", data=form)


def test_the_family_page_reassesses_after_the_fusion_model_changed(web, browser_for):
    # This service has no fusion model: a site that chose to serve without one.
    web.services.settings.allow_rules_only = True
    commission, first, refused = _decide_after_the_fusion_model_went(web, browser_for)
    assert refused.status_code == 409 and "another fusion model" in refused.text
    assert int(_assessment_id(refused.text)) != first  # the page shows the recomputed one
    again = commission.get("/ui/families/F1")
    assert _assessment_id(again.text) == _assessment_id(refused.text)


def test_the_family_page_keeps_an_assessment_made_with_a_fusion_model_it_no_longer_has(
    web, browser_for
):
    from serving.db.models import Assessment
    from serving.web.i18n import translator

    commission, first, refused = _decide_after_the_fusion_model_went(web, browser_for)
    assert refused.status_code == 409
    assert translator("en")("decision_error.fusion_model_missing") in refused.text
    assert int(_assessment_id(refused.text)) == first  # the same one, not redone
    assert 'id="stale-note"' in refused.text
    again = commission.get("/ui/families/F1?lang=ru")
    ru = translator("ru")
    why = ru.label("stale_reason", "fusion_model_missing")
    assert ru("family.out_of_date", why=why) in again.text
    assert ru("decision.waits_while_out_of_date") in again.text
    assert 'id="decision-form"' not in again.text
    with web.services.sessions() as session:
        versions = session.execute(select(Assessment.version)).scalars().all()
        assert versions == [1] and session.execute(select(Decision)).first() is None


def test_the_oversight_page_reads_the_drift_alert_of_the_report(web, browser_for):
    web.services.settings.drift_alert_psi = 0.125
    page = browser_for("admin").get("/ui/oversight")
    assert page.status_code == 200 and "A PSI above 0.125" in page.text


def test_the_family_page_lists_every_rule_checked_with_its_criteria(web, browser_for):
    """A met criterion of a rule that did not fire (e.g. 2+ vehicles) is shown under its rule,
    never as a rule that fired."""
    web.create_family("F1")
    page = browser_for("commission").get("/ui/families/F1").text
    assert "Rules checked" in page and "Rules that fired" not in page
    rules = page.split('<ul class="rules">')[1].split("</ul>\n")[0]
    income = rules.index("poverty line")
    level6 = rules.index("Level-6 rule")
    assert income < level6  # the income test, the legal ground, comes first
    criteria = rules[level6:].split("<ul>")[1]
    for words in ("dwellings", "vehicles", "subsistence minimums", "legal entity"):
        assert words in criteria


def test_the_family_page_says_when_the_model_did_not_read_the_photos(web, browser_for):
    from serving.db.models import Assessment
    from serving.db.session import session_scope

    web.create_family("F1")
    commission = browser_for("commission")
    page = commission.get("/ui/families/F1")
    note = "This model reads the family record only"
    assert note not in page.text  # no fusion model here: nothing to say about one
    with session_scope(web.services.sessions) as session:
        row = session.get(Assessment, int(_assessment_id(page.text)))
        row.result = {**row.result, "model_uses_photos": False}
    assert note in commission.get("/ui/families/F1").text
