"""The command line as a whole (review, part 2): help shows flags as flags and paragraphs as
written, usage errors and Ctrl-C are one `error [code]:` line, `--device gpu` without a GPU
has its own code."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from shanyraq.cli import build_app
from shanyraq.errors import ShanyraqError
from tests.refusals import error_code
from tests.shanyraq.cli_helpers import WIDTH, command_help, run_main_raw_code

SECTIONS = ("Arguments:", "Options:", "Commands:")


def _commands() -> Iterator[list[str]]:
    """The words of every command and group, `shanyraq` itself first (`[]`)."""

    def walk(command, words):
        yield words
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*words, name])

    yield from walk(get_command(build_app()), [])


def _description(help_text: str) -> list[list[str]]:
    """The paragraphs (lists of lines) between the usage line and the first section."""
    lines = help_text.splitlines()[1:]
    end = next((i for i, line in enumerate(lines) if line.strip() in SECTIONS), len(lines))
    paragraphs: list[list[str]] = [[]]
    for line in lines[:end]:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


# --- help (L3) ---------------------------------------------------------------------------


def test_no_flag_is_shown_as_taking_a_value():
    for words in _commands():
        text = command_help(words)
        assert "<bool>" not in text, words
        assert re.search(r"^\s+--help\s+Show this message", text, re.M), (words, text)
    score = command_help(["score"])
    assert re.search(r"^\s+--json\s+One JSON object per line", score, re.M), score
    assert re.search(r"^\s+--model <path>", score, re.M), score  # options that take one do


def test_help_paragraphs_are_filled_not_broken_mid_sentence():
    """Each line of a description took every word that fitted: the docstrings' own line
    breaks are not kept (they broke sentences once re-wrapped to the terminal)."""
    for words in _commands():
        for paragraph in _description(command_help(words)):
            for line, following in itertools.pairwise(paragraph):
                next_word = following.split()[0]
                assert len(line) + 1 + len(next_word) > WIDTH - 10, (words, line, following)


def test_rescore_help_says_how_to_resume():
    text = " ".join(command_help(["rescore"]).split())
    assert "resumes where it stopped" in text and "--restart" in text


def test_promote_help_says_unscored_photos_keep_their_old_score():
    text = " ".join(command_help(["rescore", "promote"]).split())
    said = "could not score (file missing, unreadable or damaged in the store, or undecodable)"
    assert f"{said} keeps its old score" in text
    assert "covers every photo" not in text


# --- usage errors (L5) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message", "where"),
    [  # (arguments, the usage error, the command whose --help the line points at)
        (["nope"], "No such command 'nope'", ""),
        (["--bogus"], "No such option: --bogus", ""),
        (["score", "--model", "m"], "Missing argument 'photos'", " score"),
        (["score", "p.jpg", "--model"], "Option '--model' requires an argument", " score"),
        (
            ["data", "split", "m.csv", "--out", "s.csv", "--fractions", "a,b,c"],
            "fractions must be numbers",
            " data split",
        ),
        (["rescore", "promote", "--model", ".", "--reassess"], "give --as", " rescore promote"),
    ],
)
def test_a_usage_error_is_one_line_with_a_code_and_where_to_look(
    monkeypatch, capsys, args, message, where
):
    code, out, err = run_main_raw_code(monkeypatch, capsys, *args)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error [usage_error]: ") and message in err
    # click names the program as started (`shanyraq`, `python -m shanyraq.cli`, pytest's).
    assert err.rstrip().endswith(f"{where} --help`"), err


def test_a_usage_error_through_cli_runner_keeps_exit_2_and_the_line():
    result = CliRunner().invoke(build_app(), ["score", "--model", "m"])
    assert result.exit_code == 2
    assert result.output.startswith("error [usage_error]: Missing argument 'photos'")


def test_a_group_alone_still_prints_its_help(monkeypatch, capsys):
    code, out, err = run_main_raw_code(monkeypatch, capsys, "data")
    assert code == 2  # click's exit for "no arguments: here is the help"
    assert "Usage:" in out + err and "check" in out + err
    assert "error [" not in out + err


# --- Ctrl-C (L1) -------------------------------------------------------------------------


def test_ctrl_c_says_it_was_interrupted_and_exits_130(monkeypatch, capsys, tmp_path):
    import shanyraq.manifest
    import shanyraq.manifest_check

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # Ctrl-C while `data check` reads the manifest (it imports both when it runs).
    monkeypatch.setattr(shanyraq.manifest, "read_manifest", interrupted)
    monkeypatch.setattr(shanyraq.manifest_check, "check_manifest", interrupted)
    code, _, err = run_main_raw_code(monkeypatch, capsys, "data", "check", str(tmp_path / "m.csv"))
    assert code == 130
    assert len(err.splitlines()) == 1, err
    assert (
        err.startswith("error [interrupted]: `") and "data check` was interrupted (Ctrl-C)" in err
    )
    assert "data check --help` says" in err  # the command itself, not only its group


# --- --device gpu without a GPU (L10) ----------------------------------------------------


def test_device_gpu_without_a_gpu_has_its_code_and_lists_the_devices(monkeypatch, tmp_path):
    import vision.gpu
    from vision.bulk import open_scorer

    monkeypatch.setattr(vision.gpu, "gpu_usable", lambda device_id=0: (False, "no CUDA GPU"))
    with pytest.raises(ShanyraqError) as refused:
        open_scorer(Path(tmp_path), prefer="gpu", max_pixels=1_000_000)
    assert error_code(refused.value) == "device_unavailable"
    message = refused.value.message
    assert "no CUDA GPU" in message and "--device cpu" in message
    assert all(device in message for device in ("auto", "cpu", "gpu"))
