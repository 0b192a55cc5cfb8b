"""Disabling an account (someone who left, a role withdrawn): it cannot sign in, the tokens it
holds are refused at once, and enabling it again lets it sign in anew without reviving them.
By an admin within its scope (never itself) on the API, or by the operator's CLI; audited."""

from __future__ import annotations

from tests.serving.backup_helpers import audited_actions
from tests.serving.cli_helpers import error_code, run_cli
from tests.serving.helpers import PASSWORD, audit_entries
from tests.serving.logout_helpers import audit_intact, auth_me, user_row


def _set(service, who: str, username: str, what: str):
    target = user_row(service, username)
    return service.client.post(f"/users/{target.id}/{what}", headers=service.headers(who))


def _sign_in(service, username: str):
    return service.client.post("/auth/token", data={"username": username, "password": PASSWORD})


def test_a_disabled_account_is_refused_at_once_and_enabling_it_does_not_revive_old_tokens(
    service,
):
    held = service.sign_in("inspector")
    disabled = _set(service, "admin", "inspector", "disable")
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["active"] is False
    assert auth_me(service, held).status_code == 401  # the token it held, refused at once
    assert _sign_in(service, "inspector").status_code == 401
    listed = service.client.get("/users", headers=service.headers("admin")).json()
    assert {u["username"]: u["active"] for u in listed}["inspector"] is False

    enabled = _set(service, "admin", "inspector", "enable")
    assert enabled.status_code == 200 and enabled.json()["active"] is True
    assert auth_me(service, held).status_code == 401  # signed out when it was disabled
    fresh = service.sign_in("inspector")
    assert auth_me(service, fresh).status_code == 200
    assert [(e.actor, e.target, e.details) for e in audit_entries(service, "user_disabled")] == [
        ("admin", "user:inspector", {"changed": True})
    ]
    assert [e.target for e in audit_entries(service, "user_enabled")] == ["user:inspector"]
    audit_intact(service)


def test_an_admin_cannot_disable_itself_nor_an_account_outside_its_region(service):
    own = _set(service, "admin", "admin", "disable")
    assert own.status_code == 409 and own.json()["code"] == "own_account", own.text
    assert auth_me(service, service.tokens["admin"]).status_code == 200
    for username in ("inspector_other", "admin_national"):  # another region; national scope
        refused = _set(service, "admin", username, "disable")
        assert refused.status_code == 404 and refused.json()["code"] == "not_found", username
        assert user_row(service, username).active
    for who in ("inspector", "commission", "annotator"):
        assert _set(service, who, "inspector_other", "disable").status_code == 403, who
    assert audit_entries(service, "user_disabled") == []


def test_the_cli_disables_enables_and_lists_accounts_and_audits_each(tmp_path, live):
    added = run_cli("users", "add", "bolat", "--role", "inspector", "--region", "shymkent",
                    "--password", PASSWORD, "--config", live)  # fmt: skip
    assert added.exit_code == 0, added.output
    done = run_cli("users", "disable", "bolat", "--config", live)
    assert done.exit_code == 0 and "bolat disabled" in done.output, done.output
    again = run_cli("users", "disable", "bolat", "--config", live)
    assert again.exit_code == 0 and "it was already" in again.output
    listed = run_cli("users", "list", "--config", live)
    assert listed.exit_code == 0, listed.output
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in listed.stdout.splitlines()}
    assert rows == {"amina": ["admin", "all regions", "active"],
                    "bolat": ["inspector", "shymkent", "DISABLED"]}  # fmt: skip
    assert run_cli("users", "enable", "bolat", "--config", live).exit_code == 0
    missing = run_cli("users", "disable", "nobody", "--config", live)
    assert missing.exit_code != 0 and error_code(missing) == "not_found"

    actions = audited_actions(tmp_path / "data" / "shanyraq.db")
    assert [(a, d) for a, d in actions if a.startswith("user_") and a != "user_created"] == [
        ("user_disabled", {"changed": True}),
        ("user_disabled", {"changed": False}),
        ("user_enabled", {"changed": True}),
    ]
    verified = run_cli("audit", "verify", "--config", live)
    assert verified.exit_code == 0, verified.output
