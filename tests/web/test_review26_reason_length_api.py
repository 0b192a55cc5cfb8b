"""A decision's reason is counted and stored with its line breaks as LF, from the page's form
(which a browser sends with CRLF) and from the API alike; one over the limit sent from the
page comes back as the form with the member's words and the refusal."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from serving.core.reason_chars import ReasonChars
from serving.db.models import AuditEntry, Decision
from serving.web.i18n import load_catalogues
from tests.serving.decision_helpers import assess, decide
from tests.web.helpers import csrf_from

# The shipped limit the test services run with (configs/serving.yaml reason_chars).
REASON_MAX_CHARS = ReasonChars().decision_max

EN = load_catalogues()["en"]
LINE = "Wage arrears confirmed by the employer's letter."  # 48 characters


def _typed(chars: int) -> str:
    """A reason of `chars` characters as the member typed it, in lines of LINE, LF between."""
    text = "\n".join([LINE] * (chars // (len(LINE) + 1)))
    return text + "\n" + "x" * (chars - len(text) - 1)


def _form(commission: Any, reason: str) -> dict[str, str]:
    page = commission.get("/ui/families/F1")
    return {
        "csrf_token": csrf_from(page.text), "kind": "override", "level": "2",
        "reason_code": "income_evidence", "reason": reason,
        "assessment_id": page.text.split('name="assessment_id" value="')[1].split('"')[0],
    }  # fmt: skip


def _recorded(web: Any) -> list[tuple[str, str | None]]:
    """Each decision's reason and the reason_sha256 of its audit entry."""
    with web.services.sessions() as session:
        entries = session.execute(
            select(AuditEntry.target, AuditEntry.details).where(
                AuditEntry.action == "decision_recorded"
            )
        ).all()
        pinned = {target: details.get("reason_sha256") for target, details in entries}
        rows = session.execute(select(Decision.id, Decision.reason).order_by(Decision.id)).all()
        return [(reason, pinned[f"decision:{did}"]) for did, reason in rows]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_form_reason_at_the_limit_sent_with_crlf_is_recorded_with_lf(web, browser_for):
    web.create_family("F1")
    assess(web, level=3)
    commission = browser_for("commission")
    typed = _typed(REASON_MAX_CHARS)
    sent = typed.replace("\n", "\r\n")  # as a browser sends a textarea's line breaks
    assert len(typed) == REASON_MAX_CHARS < len(sent)
    done = commission.post(
        "/ui/families/F1/decisions", data=_form(commission, sent), follow_redirects=False
    )
    assert done.status_code == 303, done.text[:500]
    assert _recorded(web) == [(typed, _sha256(typed))]  # stored and audited as typed


def test_a_form_reason_over_the_limit_comes_back_with_the_words_and_the_refusal(web, browser_for):
    web.create_family("F1")
    assess(web, level=3)
    commission = browser_for("commission")
    sent = _typed(REASON_MAX_CHARS + 1).replace("\n", "\r\n")
    refused = commission.post(
        "/ui/families/F1/decisions", data=_form(commission, sent), follow_redirects=False
    )
    assert refused.status_code == 422
    assert 'id="decision-form"' in refused.text
    # The page writes the limit as it writes numbers: grouped ("2,000").
    assert EN["decision_error.reason_too_long"].format(n=f"{REASON_MAX_CHARS:,}") in refused.text
    assert LINE.replace("'", "&#39;") in refused.text  # the member's words, in the textarea
    assert _recorded(web) == []


def test_an_api_reason_with_cr_line_breaks_is_recorded_with_lf(web):
    web.create_family("F1")
    body = {
        "kind": "override", "level": 2, "reason_code": "income_evidence",
        "reason": "Wage arrears.\r\nEmployer's letter seen.\rNo other income.",
    }  # fmt: skip
    done = decide(web, assess(web, level=3), body)
    assert done.status_code == 201, done.text
    typed = "Wage arrears.\nEmployer's letter seen.\nNo other income."
    assert done.json()["reason"] == typed
    assert _recorded(web) == [(typed, _sha256(typed))]
