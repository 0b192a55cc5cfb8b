"""The manifest a training refusal names in `shanyraq data check MANIFEST` is one word of the
command as a shell reads it, and a plain path reads as given.

Before, a contact sheet's refusal (a photo missing, or one that cannot be read) and a training
run's (problem rows) named the manifest bare: one in a folder with a space, a quote or `$`
split the command, copied to a shell, into other arguments (or failed on an unclosed quote).
Now the command, split as a shell splits it, checks that manifest.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanyraq.cli import build_app
from shanyraq.errors import ImageError, ManifestError, ShanyraqError
from shanyraq.manifest import SPLITS, read_manifest
from training.dataset_splits import check_rows
from training.synth.photos import generate_photos
from training.synth.sheet import contact_sheet

# A folder name a shell would split (space), fail on (quote) or expand (`$`), left as it is.
ODD = "my 'photos $HOME"


def data_check(text: str) -> list[str]:
    """The arguments of the one `shanyraq data check ...` that `text` names, as a shell splits
    them."""
    (args,) = re.findall(r"`shanyraq data check ([^`]*)`", text)
    return shlex.split(args)


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated set (n=3, seed=1) to copy: tests must not change it."""
    folder = tmp_path_factory.mktemp("set") / "photos"
    generate_photos(3, folder, seed=1, size=64)
    return folder


@pytest.fixture
def odd_set(tmp_path: Path, photo_set: Path) -> Path:
    """A copy of the set in a folder with a space, a quote and `$` in its name; its manifest."""
    return shutil.copytree(photo_set, tmp_path / ODD) / "manifest.csv"


def _first_photo(manifest: Path) -> Path:
    data = read_manifest(manifest)
    return data.rows[0].resolve(data.root)


def _checked_as_told(refusal: ShanyraqError, manifest: Path, photo: Path) -> None:
    """The refusal's `data check`, split as a shell splits it, checks `manifest` and names the
    photo's problem."""
    args = data_check(refusal.message)
    assert args == [str(manifest)]
    checked = CliRunner().invoke(build_app(), ["data", "check", *args])
    assert checked.exit_code == 1, checked.output
    assert photo.name in checked.output


@pytest.mark.parametrize("damage", ["missing", "unreadable"])
def test_a_contact_sheet_names_data_check_with_its_manifest_as_one_word(
    tmp_path: Path, odd_set: Path, damage: str
) -> None:
    photo = _first_photo(odd_set)
    if damage == "missing":
        photo.unlink()
    else:
        photo.write_bytes(b"not a photo")
    refused: type[ShanyraqError] = ManifestError if damage == "missing" else ImageError
    with pytest.raises(refused) as caught:
        contact_sheet(odd_set, tmp_path / "sheet.png", columns=3, rows=1)
    _checked_as_told(caught.value, odd_set, photo)


def test_problem_rows_name_data_check_with_the_manifest_as_one_word(odd_set: Path) -> None:
    photo = _first_photo(odd_set)
    photo.unlink()
    with pytest.raises(ManifestError) as caught:
        check_rows(read_manifest(odd_set), odd_set, splits=SPLITS, held_out_styles=())
    _checked_as_told(caught.value, odd_set, photo)


def test_a_plain_manifest_reads_as_given(tmp_path: Path, photo_set: Path) -> None:
    manifest = shutil.copytree(photo_set, tmp_path / "photos") / "manifest.csv"
    _first_photo(manifest).unlink()
    with pytest.raises(ManifestError) as caught:
        check_rows(read_manifest(manifest), manifest, splits=SPLITS, held_out_styles=())
    assert f"`shanyraq data check {manifest}`" in caught.value.message
