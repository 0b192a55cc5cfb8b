"""Every audit action the code writes has a label in each page language: the audit page
showed `audit_head_mismatch`, `database_upgraded` and others as their code's words, in
English on the Russian and Kazakh pages too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from serving.audit_chain import HEAD_MISMATCH, HEAD_UNSEALED
from serving.web.i18n import translator

ROOT = Path(__file__).resolve().parents[2]


def _written_actions() -> set[str]:
    """The `action=` string literals of audit appends in the service's code."""
    found = {HEAD_MISMATCH, HEAD_UNSEALED}
    for path in (ROOT / "serving").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name not in ("append", "audit_action", "record"):
                continue
            for keyword in node.keywords:
                if keyword.arg == "action" and isinstance(keyword.value, ast.Constant):
                    found.add(str(keyword.value.value))
    return found


def test_the_written_actions_are_found():
    actions = _written_actions()
    assert {"login", "database_upgraded", "database_backed_up"} <= actions, sorted(actions)


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_every_written_audit_action_has_a_label(lang):
    t = translator(lang)
    missing = sorted(
        action
        for action in _written_actions()
        if f"audit_action.{action}" not in t.catalogues[t.language]
    )
    assert missing == [], missing
