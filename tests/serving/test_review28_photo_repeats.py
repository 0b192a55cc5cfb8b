"""GET /photos/{photo_id} tells that a filed photo repeats one its family already filed.

An upload's answer names the filed photos of the family it repeats (`repeat_of`), and the
assessment leaves it out as `repeated`; the photo's own view said nothing of it, so a
commission member or an auditor opening the photo could not see why it did not count. The
view now has `repeat_of` in the upload answer's shape (photo id and the family page's
number), found as the assessment finds it (photo_evidence.filed_repeats).
"""

from __future__ import annotations

from serving.photo_evidence import REPEATED_KEY
from tests.serving.repeat_helpers import upload_answer
from tests.serving.repeat_photos import COPIES, encoded, photo_view
from tests.vision.reuse_helpers import look_alike


def test_a_viewed_photo_names_the_filed_photo_it_repeats(scored, room):
    scored.create_family("F1")
    first = upload_answer(scored, "F1", room)
    other = upload_answer(scored, "F1", encoded(look_alike(6)))  # another photo of the home
    again = upload_answer(scored, "F1", COPIES["resized"](room))
    told = [{"photo_id": first["photo_id"], "number": 1}]
    assert again["repeat_of"] == told
    for who in ("commission", "inspector", "admin"):
        assert photo_view(scored, again["photo_id"], who)["repeat_of"] == told
    assert photo_view(scored, first["photo_id"])["repeat_of"] == []
    assert photo_view(scored, other["photo_id"])["repeat_of"] == []
    # The very photo the assessment leaves out as a repeat.
    assert scored.assess("F1")["model_versions"][REPEATED_KEY] == str(again["photo_id"])


def test_each_viewed_photo_tells_what_its_upload_answer_told(scored, room):
    """The same photo three times (two copies): each view names what its upload named, the
    photo that counts (not the first copy too). As now, like the assessment: once another
    family files a copy, the family's photos are reused, which count nowhere, so no repeat."""
    scored.create_family("F1")
    scored.create_family("F2")
    answers = [
        upload_answer(scored, "F1", room),
        upload_answer(scored, "F1", COPIES["re-encoded"](room)),
        upload_answer(scored, "F1", COPIES["screenshot"](room)),
    ]
    assert answers[2]["repeat_of"] == [{"photo_id": answers[0]["photo_id"], "number": 1}]
    for answer in answers:
        assert photo_view(scored, answer["photo_id"])["repeat_of"] == answer["repeat_of"]
    copied = upload_answer(scored, "F2", COPIES["resized"](room))
    assert copied["reuse"]["reused"] is True and copied["repeat_of"] == []
    for answer in [*answers, copied]:
        viewed = photo_view(scored, answer["photo_id"])
        assert viewed["reuse"]["reused"] is True and viewed["repeat_of"] == []
    assert scored.assess("F1")["model_versions"][REPEATED_KEY] == ""


def test_the_views_repeat_field_is_documented_as_the_uploads_and_conforms(scored, room):
    from jsonschema import Draft202012Validator

    spec = scored.app.openapi()
    schemas = spec["components"]["schemas"]
    view, upload = schemas["PhotoViewOut"]["properties"], schemas["UploadOut"]["properties"]
    assert set(view) == set(upload)  # the view and an upload's answer have the same fields
    assert view["repeat_of"]["items"] == upload["repeat_of"]["items"]
    assert "`repeated`" in view["repeat_of"]["description"]
    scored.create_family("F1")
    upload_answer(scored, "F1", room)
    again = upload_answer(scored, "F1", COPIES["re-encoded"](room))
    viewed = photo_view(scored, again["photo_id"])
    assert viewed["repeat_of"]
    documented = spec["paths"]["/photos/{photo_id}"]["get"]["responses"]["200"]["content"]
    root = {**documented["application/json"]["schema"], "components": spec["components"]}
    Draft202012Validator(root).validate(viewed)
