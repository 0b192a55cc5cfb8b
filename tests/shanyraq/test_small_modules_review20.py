"""Review 20 of strict JSON, JSON values and dataset splits.

Before: a request body in UTF-16 or UTF-32, or with UTF-8-encoded surrogates, was read although
the API takes UTF-8 only (json.loads detects other encodings in bytes), and a malformed UTF-16
body was refused with UTF-16's reason under "not UTF-8"; a key given twice in an object whose
family_id held a lone surrogate made an error message the service could not encode (a 500);
training took a manifest with one photo in train and in test under two family ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from serving.api.strict_json import loads_strict
from shanyraq.errors import ManifestError
from shanyraq.json_values import KeyGivenTwiceError, pairs_once
from shanyraq.manifest import read_manifest, write_manifest
from shanyraq.taxonomy import get_taxonomy
from tests.serving.helpers import Service, family_body, started
from training.dataset_splits import load_splits
from training.recipe import DataSection

TEXT = '{"a": [1, "é"]}'
ASCII = '{"a": [1, "e"]}'  # in UTF-16 or UTF-32 without a BOM, every byte is also UTF-8


# --- strict JSON: UTF-8 only ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (TEXT.encode("utf-16"), "the body is not UTF-8 text (invalid start byte at byte 0)"),
        (TEXT.encode("utf-32"), "the body is not UTF-8 text (invalid start byte at byte 0)"),
        (ASCII.encode("utf-16-le"), "the body holds a NUL byte (byte 1)"),
        (ASCII.encode("utf-32-be"), "the body holds a NUL byte (byte 0)"),
        (b'{"a": "\xed\xa0\x80"}', "the body is not UTF-8 text (invalid continuation byte"),
        (b"\xff\xfe\x00", "the body is not UTF-8 text (invalid start byte at byte 0)"),
    ],
    ids=["utf16", "utf32", "utf16le-no-bom", "utf32be-no-bom", "encoded-surrogate", "odd-utf16"],
)
def test_a_body_in_another_encoding_is_refused_as_not_utf8(body, said):
    with pytest.raises(json.JSONDecodeError) as caught:
        loads_strict(body)
    assert said in caught.value.msg and "send" in caught.value.msg


def test_a_utf8_byte_order_mark_is_skipped_and_bytes_are_counted_from_the_body_start():
    assert loads_strict(b"\xef\xbb\xbf" + TEXT.encode("utf-8")) == {"a": [1, "é"]}
    with pytest.raises(json.JSONDecodeError, match=r"invalid start byte at byte 10\)"):
        loads_strict(b'\xef\xbb\xbf{"a": "\xff"}')  # the 0xff is the body's 11th byte


# --- a key given twice: the message is text that can be sent -------------------------------


@pytest.mark.parametrize(
    ("family_id", "named"),
    [("\\ud800", "of family '\\ud800'"), ("F\\nG", "of family 'F\\nG'"), ("F1", "of family F1")],
    ids=["lone-surrogate", "newline", "plain"],
)
def test_a_key_given_twice_names_the_family_in_printable_text(family_id, named):
    text = f'{{"family_id": "{family_id}", "a": 1, "a": 2}}'
    with pytest.raises(KeyGivenTwiceError) as caught:
        json.loads(text, object_pairs_hook=pairs_once)
    message = str(caught.value)
    assert message == f"'a' is given twice in the object {named}"
    message.encode("utf-8")  # raised UnicodeEncodeError for the lone surrogate
    assert message.isprintable()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with started(tmp_path_factory.mktemp("json20")) as service:
        yield service


def _post(api: Service, content: bytes) -> object:
    headers = {**api.headers("inspector"), "Content-Type": "application/json"}
    return api.client.post("/families", content=content, headers=headers)


def test_the_service_refuses_a_key_twice_beside_a_lone_surrogate_with_a_422(api):
    body = b'{"family_id": "\\ud800", "region": "x", "region": "y"}'
    answer = _post(api, body)  # was a UnicodeEncodeError rendering the answer: a 500
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "request_invalid"
    assert "'region' is given twice in the object of family '\\ud800'" in answer.json()["message"]


def test_the_service_refuses_a_utf16_body_and_stores_nothing(api):
    body = json.dumps(family_body("U16")).encode("utf-16")
    answer = _post(api, body)
    assert answer.status_code == 422, answer.text
    assert "the body is not UTF-8 text" in answer.json()["message"]
    gone = api.client.get("/families/U16", headers=api.headers("inspector"))
    assert gone.status_code == 404
    same = json.dumps(family_body("U8")).encode("utf-8")
    assert _post(api, same).status_code == 201  # the same record in UTF-8 is taken


# --- dataset splits: one photo in two splits -----------------------------------------------


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.training.toy_manifest_helpers import write_toy_manifest

    return write_toy_manifest(tmp_path_factory.mktemp("toy20"), get_taxonomy(), per_family=2)


def _with_test_row_as(toy: Path, split: str, **changes: str) -> Path:
    """The toy manifest with its first test row made a photo of the first `split` row."""
    rows = list(read_manifest(toy).rows)
    other = next(r for r in rows if r.split == split)
    at = next(i for i, r in enumerate(rows) if r.split == "test")
    given = {"path": other.path, "sha256": other.sha256, **changes}
    rows[at] = replace(rows[at], **given)
    assert rows[at].family_id != other.family_id  # no family leak: only the photo is shared
    return write_manifest(toy.parent / f"leak-{split}-{len(changes)}.csv", rows)


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_photo_in_test_and_in_another_split_is_refused(toy, split):
    path = _with_test_row_as(toy, split)
    with pytest.raises(ManifestError) as caught:
        load_splits(DataSection(manifest=path))
    message = str(caught.value)
    assert "1 photo(s) in more than one split" in message
    assert f"appears in splits test, {split}" in message or f"{split}, test" in message
    assert "keep each photo in one split" in message


def test_one_path_given_two_sha256s_in_two_splits_is_refused(toy):
    path = _with_test_row_as(toy, "train", sha256="f" * 64)
    with pytest.raises(ManifestError, match="in more than one split"):
        load_splits(DataSection(manifest=path))


def test_the_toy_manifest_without_shared_photos_still_loads(toy):
    splits = load_splits(DataSection(manifest=toy))
    trained = {r.sha256 for r in splits.train}
    assert trained and not trained & {r.sha256 for r in [*splits.val, *splits.test]}
