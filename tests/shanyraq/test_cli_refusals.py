"""Bad input to the shared CLI layer and manifests: one clear line, nothing half-written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shanyraq import cli
from shanyraq.errors import ManifestError
from shanyraq.manifest import REQUIRED_COLUMNS, ManifestRow, read_manifest, write_manifest
from shanyraq.manifest_check import check_manifest
from tests.shanyraq.cli_helpers import run_main_code_err

HEADER = ",".join(REQUIRED_COLUMNS)


def _photo_lines(root: Path, n: int = 4) -> list[str]:
    """n manifest lines (one family per photo, all in train) whose files exist under root."""
    lines = []
    for i in range(n):
        content = f"photo {i}".encode()
        (root / f"p{i}.jpg").write_bytes(content)
        sha = hashlib.sha256(content).hexdigest()
        lines.append(f"p{i}.jpg,{sha},F{i},train,kitchen,3,none,test")
    return lines


def _manifest(root: Path, lines: list[str], *, prefix: bytes = b"") -> Path:
    path = root / "manifest.csv"
    path.write_bytes(prefix + "\n".join([HEADER, *lines, ""]).encode("utf-8"))
    return path


# --- reading manifests (M7) ---


def test_a_byte_order_mark_is_accepted(tmp_path, taxonomy):
    path = _manifest(tmp_path, _photo_lines(tmp_path), prefix=b"\xef\xbb\xbf")
    assert [r.path for r in read_manifest(path)] == ["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]
    assert check_manifest(path, taxonomy) == []


def test_non_utf8_text_is_refused_with_the_file_and_line(tmp_path, taxonomy, monkeypatch, capsys):
    lines = _photo_lines(tmp_path)
    path = _manifest(tmp_path, lines)
    data = path.read_bytes().replace(b"F1", b"F\xff1")  # a Latin-1 byte on CSV line 3
    path.write_bytes(data)
    with pytest.raises(ManifestError, match=r"manifest\.csv is not UTF-8 text \(line 3"):
        read_manifest(path)
    with pytest.raises(ManifestError, match="line 3"):
        check_manifest(path, taxonomy)
    code, err = run_main_code_err(monkeypatch, capsys, "data", "check", str(path))
    assert code == 2
    assert err.startswith("error [manifest_invalid]: ") and "line 3" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("edit", "cells"),
    [
        (lambda line: line.rsplit(",", 3)[0], 5),  # three cells missing
        (lambda line: line + ",extra", 9),  # one cell too many
    ],
    ids=["short", "long"],
)
def test_a_short_or_long_row_is_refused_with_its_line(tmp_path, taxonomy, edit, cells):
    lines = _photo_lines(tmp_path)
    lines[1] = edit(lines[1])  # CSV line 3
    path = _manifest(tmp_path, lines)
    with pytest.raises(
        ManifestError, match=rf"line 3: the row has {cells} cell\(s\) but the header has 8"
    ):
        read_manifest(path)
    problems = check_manifest(path, taxonomy)
    assert [(p.kind, p.line) for p in problems] == [("malformed_row", 3)]


# --- data check: duplicates within a split (low) ---


def test_the_same_photo_twice_in_one_split_is_a_problem(tmp_path, taxonomy):
    lines = _photo_lines(tmp_path)
    same_path = [*lines, lines[0]]  # line 6 repeats line 2
    problems = check_manifest(_manifest(tmp_path, same_path), taxonomy)
    assert [(p.kind, p.line) for p in problems] == [("duplicate_photo", 6)]
    assert "same path as line 2" in problems[0].message

    (tmp_path / "copy.jpg").write_bytes((tmp_path / "p1.jpg").read_bytes())
    same_bytes = [*lines, lines[1].replace("p1.jpg", "copy.jpg").replace(",F1,", ",F9,")]
    problems = check_manifest(_manifest(tmp_path, same_bytes), taxonomy)
    assert [(p.kind, p.line) for p in problems] == [("duplicate_photo", 6)]
    assert "same sha256 as line 3" in problems[0].message

    in_two_splits = [*lines, lines[0].replace(",F0,train,", ",F0,test,")]
    kinds = {p.kind for p in check_manifest(_manifest(tmp_path, in_two_splits), taxonomy)}
    assert "duplicate_photo" not in kinds and "photo_split_leak" in kinds  # a leak, not both


# --- data split (low) and writing manifests (M10) ---


def test_split_refuses_a_manifest_without_rows(tmp_path, monkeypatch, capsys):
    source = _manifest(tmp_path, [])
    out = tmp_path / "split.csv"
    code, err = run_main_code_err(
        monkeypatch, capsys, "data", "split", str(source), "--out", str(out)
    )
    assert code == 2
    assert err.startswith("error [manifest_invalid]: ") and "no rows" in err
    assert not out.exists()


def test_split_to_a_folder_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    source = _manifest(tmp_path, _photo_lines(tmp_path))
    out = tmp_path / "a_folder"
    out.mkdir()
    code, err = run_main_code_err(
        monkeypatch, capsys, "data", "split", str(source), "--out", str(out)
    )
    assert code == 2
    assert err.startswith(f"error [file_error]: {out}: is a folder")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_split_under_a_file_names_that_file(tmp_path, monkeypatch, capsys):
    source = _manifest(tmp_path, _photo_lines(tmp_path))
    out = source / "x.csv"  # the manifest is a file, not a folder
    code, err = run_main_code_err(
        monkeypatch, capsys, "data", "split", str(source), "--out", str(out)
    )
    assert code == 2
    assert err.startswith(f"error [file_error]: {source}: is a file")


def test_split_keeps_a_file_that_appears_at_out_while_it_splits(tmp_path, monkeypatch, capsys):
    """--out is checked before the manifest is read; a file another process writes there in
    the meantime is kept without --overwrite, not replaced."""
    from shanyraq import splits

    source = _manifest(tmp_path, _photo_lines(tmp_path))
    out = tmp_path / "split.csv"
    real_split = splits.split_rows

    def someone_writes_out(*args, **kwargs):
        out.write_text("precious\n", encoding="utf-8")
        return real_split(*args, **kwargs)

    monkeypatch.setattr(splits, "split_rows", someone_writes_out)
    code, err = run_main_code_err(
        monkeypatch, capsys, "data", "split", str(source), "--out", str(out)
    )
    assert code == 2 and err.startswith("error [output_exists]: ")
    assert f"{out} appeared while the manifest was split and is kept" in err
    assert out.read_text(encoding="utf-8") == "precious\n"
    assert not list(tmp_path.glob("*.tmp"))


def test_a_failed_write_keeps_the_old_manifest_and_no_temporary_file(tmp_path):
    path = tmp_path / "m.csv"
    good = ManifestRow("a.jpg", "0" * 64, "F1", "train", "kitchen", 3, frozenset(), "test")
    write_manifest(path, [good])
    before = path.read_bytes()
    broken = ManifestRow("b.jpg", "1" * 64, "F2", "train", "kitchen", 3, frozenset({1, "x"}), "t")
    with pytest.raises(TypeError):  # sorting the signs fails after the header is written
        write_manifest(path, [good, broken])  # type: ignore[list-item]
    assert path.read_bytes() == before
    assert not (tmp_path / "m.csv.tmp").exists()


# --- the last-resort handler in main() (M10) ---


def _raising(exc: BaseException):
    def build_app():
        def app():
            raise exc

        return app

    return build_app


def test_an_os_error_is_one_line_naming_the_path(monkeypatch, capsys):
    error = PermissionError(13, "Permission denied", "/srv/data/out.csv")
    monkeypatch.setattr(cli, "build_app", _raising(error))
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    code, err = run_main_code_err(monkeypatch, capsys)
    assert code == 2
    assert err.startswith("error [file_error]: /srv/data/out.csv: Permission denied; ")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1

    monkeypatch.setattr(cli, "build_app", _raising(KeyError("a real bug")))
    with pytest.raises(KeyError, match="a real bug"):  # any other exception keeps its traceback
        cli.main()


def test_a_decode_error_is_one_line(monkeypatch, capsys):
    error = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    monkeypatch.setattr(cli, "build_app", _raising(error))
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    code, err = run_main_code_err(monkeypatch, capsys)
    assert code == 2
    assert err.startswith("error [file_error]: a file is not UTF-8 text (invalid start byte")
    assert "Traceback" not in err


def test_debug_adds_the_traceback(monkeypatch, capsys):
    error = FileNotFoundError(2, "No such file or directory", "/nope/photo.jpg")
    monkeypatch.setattr(cli, "build_app", _raising(error))
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    code, err = run_main_code_err(monkeypatch, capsys)
    assert code == 2
    assert "Traceback" in err and "FileNotFoundError" in err
    assert err.strip().splitlines()[-1].startswith("error [file_error]: /nope/photo.jpg: ")
