"""A family's photo list names what each photo repeats; a repeat names the photo that counts.

GET /families/{family_id}/photos had no `repeat_of`, so a client listing a family's photos
could not tell which of them count once. Each listed photo now has it, as GET /photos/{id}
answers it, found with the family's photos read once for the whole list, and only where one
of them is a candidate in the reuse index (ReuseIndex.has_family_candidate).

A photo sent a third time named both the photo that counts and the second copy, itself a
repeat of it, though `repeat_of` is documented as the photos that count. It now names those
alone; a repeat only where the photo is verified as that repeat alone (the photo that counts
unreadable, its full hash too far off to decide), so a photo the assessment leaves out as
repeated always names one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.photo_evidence import REPEATED_KEY
from tests.serving.helpers import Service
from tests.serving.repeat_helpers import audited_details, counted_store_reads, upload_answer
from tests.serving.repeat_photos import COPIES, decoded, encoded, photo_view
from tests.vision.reuse_helpers import look_alike
from vision.engine import get_engine_config
from vision.hashing import reuse_hashes


def _listed(service: Service, family_id: str, who: str = "commission") -> list[dict[str, Any]]:
    answer = service.client.get(f"/families/{family_id}/photos", headers=service.headers(who))
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _cropped(data: bytes, fraction: float) -> bytes:
    """The photo with `fraction` of each side cut off, as a new JPEG."""
    pixels = decoded(data)
    height, width = pixels.shape[:2]
    cut_y, cut_x = int(height * fraction), int(width * fraction)
    return encoded(np.ascontiguousarray(pixels[cut_y : height - cut_y, cut_x : width - cut_x]))


def test_the_list_names_what_each_photo_view_names(scored, room):
    scored.create_family("F1")
    first = upload_answer(scored, "F1", room)
    other = upload_answer(scored, "F1", encoded(look_alike(6)))  # another photo of the home
    again = upload_answer(scored, "F1", COPIES["resized"](room))
    told = [{"photo_id": first["photo_id"], "number": 1}]
    expected = {first["photo_id"]: [], other["photo_id"]: [], again["photo_id"]: told}
    for who in ("commission", "inspector", "admin"):
        listed = _listed(scored, "F1", who)
        assert {p["photo_id"]: p["repeat_of"] for p in listed} == expected
        for photo in listed:
            assert photo["repeat_of"] == photo_view(scored, photo["photo_id"], who)["repeat_of"]


def test_the_lists_repeat_field_is_documented_and_the_list_conforms(scored, room):
    from jsonschema import Draft202012Validator

    spec = scored.app.openapi()
    schemas = spec["components"]["schemas"]
    listed_field = schemas["PhotoOut"]["properties"]["repeat_of"]
    assert listed_field["items"] == schemas["PhotoViewOut"]["properties"]["repeat_of"]["items"]
    assert "`repeated`" in listed_field["description"]
    scored.create_family("F1")
    upload_answer(scored, "F1", room)
    upload_answer(scored, "F1", COPIES["re-encoded"](room))
    listed = _listed(scored, "F1")
    assert listed[1]["repeat_of"]
    documented = spec["paths"]["/families/{family_id}/photos"]["get"]["responses"]["200"]
    schema = documented["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(listed)


def test_the_list_reads_the_family_once_and_nothing_where_no_photo_repeats(
    scored, room, restart, photo_model, family_reads, link_reads, monkeypatch
):
    scored.create_family("F1")
    first = upload_answer(scored, "F1", room)
    upload_answer(scored, "F1", encoded(look_alike(6)))  # another photo of the home
    again = restart(scored, model_dir=photo_model)  # nothing cached
    store_reads = counted_store_reads(again, monkeypatch)
    family_reads.calls = link_reads.calls = 0
    assert [p["repeat_of"] for p in _listed(again, "F1")] == [[], []]
    assert (family_reads.calls, link_reads.calls, store_reads.calls) == (0, 0, 0)
    # Two copies of the first photo: the family's links read once, not once a photo.
    upload_answer(again, "F1", COPIES["re-encoded"](room))
    upload_answer(again, "F1", COPIES["screenshot"](room))
    family_reads.calls = link_reads.calls = 0
    told = [{"photo_id": first["photo_id"], "number": 1}]
    assert [p["repeat_of"] for p in _listed(again, "F1")] == [[], [], told, told]
    assert (family_reads.calls, link_reads.calls) == (0, 1)


def test_a_repeat_of_a_repeat_names_only_the_photo_that_counts(scored, room):
    scored.create_family("F1")
    first = upload_answer(scored, "F1", room)
    second = upload_answer(scored, "F1", COPIES["re-encoded"](room))
    third = upload_answer(scored, "F1", COPIES["screenshot"](room))
    told = [{"photo_id": first["photo_id"], "number": 1}]
    assert second["repeat_of"] == third["repeat_of"] == told
    assert photo_view(scored, third["photo_id"])["repeat_of"] == told
    assert [p["repeat_of"] for p in _listed(scored, "F1")] == [[], told, told]
    resent = upload_answer(scored, "F1", COPIES["screenshot"](room), status=200)
    assert resent["duplicate"] is True and resent["repeat_of"] == told
    uploaded = audited_details(scored, "photo_uploaded")[f"photo:{third['photo_id']}"]
    assert uploaded["repeat_of"] == [first["photo_id"]]
    # Both copies are left out: the photo named is the one whose evidence counts.
    repeated = f"{second['photo_id']},{third['photo_id']}"
    assert scored.assess("F1")["model_versions"][REPEATED_KEY] == repeated


def test_a_photo_verified_only_as_a_repeat_names_that_repeat(scored, room, restart, photo_model):
    """The first photo's stored file gone, a copy of it is judged on its full hash alone
    (reuse_radius): a re-encoded copy still is the same photo, a cropped one no longer is, but
    it is verified on pixels as the re-encoded copy. It is left out as a repeat, so it names
    that copy (which names the first photo), not nothing."""
    hashing = get_engine_config().hashing
    copy, crop = COPIES["re-encoded"](room), _cropped(room, 0.10)
    full = {name: reuse_hashes(decoded(data), hashing.crop_fractions).full for name, data in
            (("room", room), ("copy", copy), ("crop", crop))}  # fmt: skip
    assert full["room"].distance(full["copy"]) <= hashing.reuse_radius
    assert full["room"].distance(full["crop"]) > hashing.reuse_radius
    scored.create_family("F1")
    first, second = upload_answer(scored, "F1", room), upload_answer(scored, "F1", copy)
    third = upload_answer(scored, "F1", crop)
    told_first = [{"photo_id": first["photo_id"], "number": 1}]
    assert third["repeat_of"] == told_first  # all readable: verified as the first photo
    scored.services.store.path_for(first["sha256"]).unlink()
    again = restart(scored, model_dir=photo_model)  # no verdict or pixels cached
    told_second = [{"photo_id": second["photo_id"], "number": 2}]
    assert photo_view(again, second["photo_id"])["repeat_of"] == told_first
    assert photo_view(again, third["photo_id"])["repeat_of"] == told_second
    assert [p["repeat_of"] for p in _listed(again, "F1")] == [[], told_first, told_second]
    repeated = f"{second['photo_id']},{third['photo_id']}"
    assert again.assess("F1")["model_versions"][REPEATED_KEY] == repeated
