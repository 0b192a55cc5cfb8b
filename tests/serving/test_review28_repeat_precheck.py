"""An upload that repeats none of its family's photos reads nothing of the family to say so.

To name the filed photos an upload repeats (photo_evidence.repeats_of), the service read the
family's photos and links and flagged every one of them (each verified on stored pixels where
no verdict was cached) before asking the reuse index whether the new photo is one of them; for
nearly every upload none of them is even a hash candidate. The index now answers that first,
from its hashes alone (ReuseIndex.has_family_candidate: the candidate search of
`same_in_family`, nothing verified); only where one is does the rest run, with the same answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from serving import photo_evidence
from serving.reuse_index import ReuseIndex
from tests.serving.helpers import REGION, Service
from tests.serving.repeat_helpers import counted_store_reads
from tests.serving.repeat_photos import COPIES, decoded, encoded
from tests.vision.reuse_helpers import look_alike
from vision.engine import get_engine_config
from vision.hashing import reuse_hashes


def _upload(service: Service, family_id: str, data: bytes, status: int = 201) -> dict[str, Any]:
    answer = service.upload(family_id, data)
    assert answer.status_code == status, answer.text
    body = dict(answer.json())
    assert body["score_status"] == "scored" and body["score"]["abstain"] is False, body
    return body


def test_an_upload_that_repeats_nothing_reads_neither_the_family_nor_a_stored_photo(
    scored, room, restart, photo_model, family_reads, link_reads, monkeypatch
):
    scored.create_family("F1")
    _upload(scored, "F1", room)
    _upload(scored, "F1", COPIES["resized"](room))  # a repeat: the family flags it on pixels
    # Started again: no verdict and no pixels cached. Before, an upload of another photo
    # read the family and verified its copy against its first photo on their stored files.
    again = restart(scored, model_dir=photo_model)
    store_reads = counted_store_reads(again, monkeypatch)
    family_reads.calls = 0
    other = _upload(again, "F1", encoded(look_alike(6)))
    assert other["repeat_of"] == [] and other["reuse"]["reused"] is False
    assert (family_reads.calls, store_reads.calls) == (0, 0)
    # Its bytes sent again (200, already filed): nothing of the family read either.
    resent = _upload(again, "F1", encoded(look_alike(6)), status=200)
    assert resent["duplicate"] is True and resent["repeat_of"] == []
    assert (family_reads.calls, link_reads.calls, store_reads.calls) == (0, 0, 0)
    # A copy of that photo still reads the family, and is told what it repeats.
    copy = _upload(again, "F1", COPIES["re-encoded"](encoded(look_alike(6))))
    assert copy["repeat_of"] == [{"photo_id": other["photo_id"], "number": 3}]
    assert family_reads.calls == 1 and store_reads.calls > 0


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_a_copy_of_a_filed_photo_is_still_told_a_repeat(scored, room, copy, family_reads):
    scored.create_family("F1")
    first = _upload(scored, "F1", room)
    _upload(scored, "F1", encoded(look_alike(6)))  # another photo of the home
    again = _upload(scored, "F1", COPIES[copy](room))
    told = [{"photo_id": first["photo_id"], "number": 1}]
    assert again["repeat_of"] == told
    # Sent again as it is: the filed copy repeats the photo filed before it, and the first
    # photo itself, a candidate only of photos filed after it, repeats nothing.
    assert _upload(scored, "F1", COPIES[copy](room), status=200)["repeat_of"] == told
    assert _upload(scored, "F1", room, status=200)["repeat_of"] == []
    made = scored.assess("F1")
    assert made["model_versions"][photo_evidence.REPEATED_KEY] == str(again["photo_id"])


CONFIG = get_engine_config().hashing


def _hex(pixels: np.ndarray) -> str:
    return reuse_hashes(pixels, CONFIG.crop_fractions).to_hex()


def test_the_index_finds_a_candidate_only_among_the_familys_earlier_photos(room):
    pixels = decoded(room)
    copy = decoded(COPIES["resized"](room))
    index = ReuseIndex(config=CONFIG, load_pixels={"a" * 64: pixels}.__getitem__)
    index.add(1, _hex(pixels), family_id="F1", region=REGION, sha256="a" * 64)
    index.add(2, _hex(look_alike(6)), family_id="F1", region=REGION, sha256="b" * 64)
    index.add(3, _hex(pixels), family_id="F2", region=REGION, sha256="c" * 64)

    def candidate(family_id: str, before: int | None = None) -> bool:
        return index.has_family_candidate(_hex(copy), family_id=family_id, before=before)

    assert candidate("F1") and candidate("F1", before=2) and candidate("F2")
    assert not candidate("F1", before=1)  # only photo 1 is one, and it is not before itself
    assert not candidate("F3")  # other families' photos are reuse, never a repeat
    blank = np.full_like(pixels, 128)
    assert not index.has_family_candidate(_hex(blank), family_id="F1", before=None)
    # Where there is a candidate the verification decides, as before.
    found = index.same_in_family(
        _hex(copy), family_id="F1", sha256="d" * 64, among={1, 2}, pixels=copy
    )
    assert found == [1]
