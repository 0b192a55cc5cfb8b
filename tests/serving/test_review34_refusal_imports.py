"""The database's refusals (the errors, their hints, `database_locked`, `server_refusal`) are
taken from serving.db.refusals, where they are defined, never from serving.db.session, which
only uses them: one name, one home, so a reader (and a monkeypatch) finds where it lives."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFUSALS = ROOT / "serving" / "db" / "refusals.py"
SESSION = "serving.db.session"
# Where Python that imports the service's modules lives.
FOLDERS = (
    "serving",
    "shanyraq",
    "scripts",
    "tests",
    "benchmarks",
    "training",
    "welfare",
    "annotation",
    "vision",
)


def _defined_in_refusals() -> set[str]:
    """The public names serving.db.refusals defines itself (not those it imports)."""
    names: set[str] = set()
    for node in ast.parse(REFUSALS.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def _taken_from_session(source: str, refusals: set[str]) -> list[str]:
    """Each refusal name the source takes from serving.db.session: imported by name, read as
    an attribute of the module, or named in a dotted string (a monkeypatch target)."""
    tree = ast.parse(source)
    found: list[str] = []
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == SESSION:
            found += [f"{node.lineno}: {a.name}" for a in node.names if a.name in refusals]
        elif isinstance(node, ast.ImportFrom) and node.module == "serving.db":
            aliases.update(a.asname or a.name for a in node.names if a.name == "session")
        elif isinstance(node, ast.Import):
            aliases.update(a.asname or a.name for a in node.names if a.name == SESSION)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in refusals
            and ast.unparse(node.value) in aliases
        ):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            dotted = {f"{SESSION}.{name}" for name in refusals}
            found += [f"{node.lineno}: {s}" for s in sorted(dotted) if node.value == s]
    return found


def test_the_refusal_names_are_found() -> None:
    refusals = _defined_in_refusals()
    assert {"DatabaseUnavailableError", "database_locked", "FILE_HINT"} <= refusals
    assert "ShanyraqError" not in refusals  # imported there, defined in shanyraq.errors


def test_every_way_of_taking_a_refusal_from_the_session_module_is_seen() -> None:
    refusals = _defined_in_refusals()
    source = (
        "from serving.db.session import make_engine, DatabaseMissingError\n"
        "import serving.db.session as db_session\n"
        "from serving.db import session\n"
        "db_session.database_locked\n"
        "session.FILE_HINT\n"
        "session.make_engine\n"
        "x = 'serving.db.session.DatabaseUnavailableError'\n"
    )
    assert _taken_from_session(source, refusals) == [
        "1: DatabaseMissingError",
        "4: db_session.database_locked",
        "5: session.FILE_HINT",
        "7: serving.db.session.DatabaseUnavailableError",
    ]
    clean = "from serving.db.refusals import DatabaseMissingError\nfrom serving.db import session\n"
    assert _taken_from_session(clean, refusals) == []


def test_no_module_takes_a_refusal_from_the_session_module() -> None:
    refusals = _defined_in_refusals()
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for where in _taken_from_session(path.read_text(encoding="utf-8"), refusals):
                found.append(f"{path.relative_to(ROOT)}:{where}")
    assert found == [], "import these from serving.db.refusals:\n" + "\n".join(found)
