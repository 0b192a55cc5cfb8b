"""An upload of a photo the family already has is audited (`photo_upload_duplicate`): who sent
it, for which family and photo. Its answer is the filed photo's record (scores, quality, reuse
flags), as GET /photos/{id} shows it audited; and a second inspector sending the same photo of
a family is something an auditor must be able to see. A retry answered from its
Idempotency-Key is the same request, not a new upload: no entry of its own."""

from __future__ import annotations

import hashlib

from serving import audit
from serving.db.session import session_scope
from tests.serving.helpers import audit_entries, jpeg


def test_a_photo_sent_again_for_its_family_is_audited_with_who_sent_it(service):
    photo = jpeg(7)
    service.create_family("F1")
    first = service.upload("F1", photo)
    assert first.status_code == 201, first.text
    again = service.upload("F1", photo, who="admin")
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    assert again.json()["photo_id"] == first.json()["photo_id"]

    (entry,) = audit_entries(service, "photo_upload_duplicate")
    assert entry.actor == "admin"
    assert entry.target == f"photo:{first.json()['photo_id']}"
    assert entry.details["family_id"] == "F1"
    assert entry.details["sha256"] == hashlib.sha256(photo).hexdigest()
    assert len(audit_entries(service, "photo_uploaded")) == 1  # one photo filed, once
    with session_scope(service.services.sessions) as session:
        assert audit.verify(session, service.services.signing_key).ok


def test_a_retry_answered_from_its_idempotency_key_is_not_a_new_upload(service):
    photo = jpeg(8)
    key = {"Idempotency-Key": "photo-8"}
    service.create_family("F1")
    first = service.upload("F1", photo, headers=key)
    assert first.status_code == 201, first.text
    retried = service.upload("F1", photo, headers=key)
    assert retried.status_code == 201 and retried.json() == first.json()
    assert audit_entries(service, "photo_upload_duplicate") == []
    # Sent again under a new key, it is an upload of a photo already filed.
    again = service.upload("F1", photo, headers={"Idempotency-Key": "photo-8b"})
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    assert [e.actor for e in audit_entries(service, "photo_upload_duplicate")] == ["inspector"]
