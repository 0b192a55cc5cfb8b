"""Review 19 of `shanyraq data check` (shanyraq.manifest_check): the line of every problem as
an editor shows it, odd CSV, unreadable photos, sha256 cells that are none, a photo's path in
two splits, and a progress bar for long runs. (EXIF orientation, reviewed alongside, needed no
change: tests/vision/test_io_review17.py covers it.)"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import shanyraq.manifest_check
from shanyraq.errors import ManifestError
from shanyraq.manifest_check import check_manifest
from tests.shanyraq.cli_helpers import run_main
from tests.shanyraq.manifest_helpers import clean_rows, write_rows


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _kinds_at(problems) -> list[tuple[str, int | None]]:
    return [(p.kind, p.line) for p in problems]


def test_lines_count_blank_lines_and_cells_holding_line_breaks(tmp_path, taxonomy):
    """csv skips blank lines and reads a quoted cell across lines: the rows after them were
    reported one or more lines too early, pointing the user at the wrong row."""
    rows = clean_rows(tmp_path, n_families=1)  # three rows
    rows[0]["source"] = "field\nvisit 2"  # a note over two lines
    rows[2]["room"] = "garage"
    path = write_rows(tmp_path, rows)
    header, first, second, third, _ = path.read_bytes().decode("utf-8").split("\r\n")
    path.write_text("\n".join([header, "", first, "", second, third, ""]), encoding="utf-8")
    garage = next(i for i, line in enumerate(_lines(path), start=1) if ",garage," in line)
    assert garage == 7  # header, blank, row 1 (two lines), blank, row 2, row 3
    problems = check_manifest(path, taxonomy)
    assert _kinds_at(problems) == [("unknown_label", garage)]


def test_bom_crlf_extra_columns_and_multiline_cells_read_as_a_spreadsheet_writes_them(
    tmp_path, taxonomy
):
    rows = clean_rows(tmp_path, n_families=2)
    for row in rows:
        row["note"] = 'said "hi",\r\nleft'
    rows[-1]["condition"] = "9"
    path = write_rows(tmp_path, rows)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    problems = check_manifest(path, taxonomy)
    assert _kinds_at(problems) == [("unknown_label", 2 + 2 * (len(rows) - 1))]


def test_a_quote_never_closed_is_one_line_naming_where_it_opened(
    tmp_path, taxonomy, monkeypatch, capsys
):
    """The open quote swallows the rest of the file into one cell; past csv's 128 KiB a cell
    raised csv.Error, which the CLI showed as a bug's traceback."""
    rows = clean_rows(tmp_path, n_families=500)
    path = write_rows(tmp_path, rows)
    lines = _lines(path)
    lines[3] = '"' + lines[3]  # CSV line 4
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len("\n".join(lines[3:])) > csv.field_size_limit()
    with pytest.raises(ManifestError, match=r"line 4: not readable as CSV"):
        check_manifest(path, taxonomy)
    code, _, err = run_main(monkeypatch, capsys, "data", "check", str(path))
    assert code == 2 and err.startswith("error [manifest_invalid]: ") and "line 4" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    # Every reader of manifests (training, selection, split) says it the same way.
    from shanyraq.manifest import read_manifest

    with pytest.raises(ManifestError, match=r"line 4: not readable as CSV"):
        read_manifest(path)


def test_an_unreadable_photo_is_one_problem_and_the_check_goes_on(tmp_path, taxonomy, monkeypatch):
    """A photo the checker may not read (permissions, a failing disk) stopped the whole check
    at that row; every later problem went unreported."""
    rows = clean_rows(tmp_path, n_families=1)
    rows[2]["room"] = "garage"
    path = write_rows(tmp_path, rows)
    real_sha256 = shanyraq.manifest_check.sha256_file

    def sha256_file(file: Path) -> str:
        if file.name == rows[0]["path"]:
            raise PermissionError(13, "Permission denied", str(file))
        return real_sha256(file)

    monkeypatch.setattr(shanyraq.manifest_check, "sha256_file", sha256_file)
    problems = check_manifest(path, taxonomy)
    assert _kinds_at(problems) == [("unreadable_file", 2), ("unknown_label", 4)]
    assert "Permission denied" in problems[0].message


def test_a_folder_at_a_rows_path_is_named_a_folder(tmp_path, taxonomy):
    rows = clean_rows(tmp_path, n_families=1)
    (tmp_path / "photos").mkdir()
    rows[0]["path"] = "photos"
    problems = check_manifest(write_rows(tmp_path, rows), taxonomy)
    assert _kinds_at(problems) == [("missing_file", 2)]
    assert "is a folder" in problems[0].message and "does not exist" not in problems[0].message


@pytest.mark.parametrize("verify_hashes", [True, False])
def test_a_sha256_cell_that_is_no_sha256_is_reported_not_matched(tmp_path, taxonomy, verify_hashes):
    """Without hashing, an empty or placeholder sha256 passed silently; and one placeholder in
    several rows made them "the same photo" (duplicates, split leaks) that they are not."""
    rows = clean_rows(tmp_path, n_families=4)  # families 0-1 train, 2 val, 3 test
    for i in (0, 3, 9):  # train, train, test
        rows[i]["sha256"] = "TODO"
    rows[1]["sha256"] = ""
    problems = check_manifest(write_rows(tmp_path, rows), taxonomy, verify_hashes=verify_hashes)
    assert _kinds_at(problems) == [("invalid_sha256", line) for line in (2, 3, 5, 11)]
    assert "'todo' is not 64 hexadecimal digits" in problems[0].message


def test_one_path_in_two_splits_is_a_leak_whatever_sha256s_are_written(tmp_path, taxonomy):
    """The same file listed in train and in test under two written sha256s (one of them
    stale) was no leak without hashing: only equal sha256s were compared across splits."""
    rows = clean_rows(tmp_path, n_families=4)
    leaked = dict(rows[0], split="test", family_id="F3", sha256="0" * 64)
    leaked["path"] = "./" + leaked["path"]
    path = write_rows(tmp_path, [*rows, leaked])
    problems = check_manifest(path, taxonomy, verify_hashes=False)
    assert _kinds_at(problems) == [("photo_split_leak", None)]
    assert problems[0].message == f"photo {rows[0]['path']} appears in splits test, train"
    kinds = _kinds_at(check_manifest(path, taxonomy))
    assert kinds == [("hash_mismatch", len(rows) + 2), ("photo_split_leak", None)]


def test_the_same_sha256_in_two_splits_is_still_one_leak(tmp_path, taxonomy):
    rows = clean_rows(tmp_path, n_families=4)
    path = write_rows(tmp_path, [*rows, dict(rows[0], split="test", family_id="F3")])
    assert _kinds_at(check_manifest(path, taxonomy)) == [("photo_split_leak", None)]


def test_a_progress_bar_on_stderr_only_when_asked(tmp_path, taxonomy, capsys):
    path = write_rows(tmp_path, clean_rows(tmp_path, n_families=2))
    assert check_manifest(path, taxonomy) == []
    assert capsys.readouterr().err == ""
    assert check_manifest(path, taxonomy, progress=True) == []
    err = capsys.readouterr().err
    assert "hashing photos" in err and f"/{len(clean_rows(tmp_path, n_families=2))}" in err


def test_data_check_shows_the_bar_on_a_terminal_or_when_asked(tmp_path, monkeypatch, capsys):
    path = write_rows(tmp_path, clean_rows(tmp_path, n_families=2))
    code, _, err = run_main(monkeypatch, capsys, "data", "check", str(path))
    assert code == 0 and "hashing photos" not in err  # not a terminal here: no bar
    code, _, err = run_main(monkeypatch, capsys, "data", "check", str(path), "--progress")
    assert code == 0 and "hashing photos" in err
