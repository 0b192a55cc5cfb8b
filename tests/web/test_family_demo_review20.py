"""Review 20 of the family page and the demo's seeding (helper-315): the page reads each
photo's stored score once per request, its room table heads with the room the assessment
reads, and the demo files every photo of its families whatever the per-user upload limit."""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

from fastapi.testclient import TestClient

from serving.db.models import Photo
from serving.db.session import session_scope
from serving.photo_evidence import photo_score
from serving.web import heatmaps
from serving.web.i18n import translator
from serving.web.photo_cards import photo_view
from shanyraq.taxonomy import get_taxonomy
from tests.serving.family_flag_helpers import PASS, current_user, score_of
from tests.serving.helpers import PASSWORD, Service, jpeg, make_settings, started
from tests.web.demo_helpers import demo_filed
from tests.web.helpers import sign_in
from vision.score import PhotoScore
from welfare.aggregate import room_of

FAMILY = "F-many"
# Scores of the family's photos (test_family_flags_review18's kinds): a confident kitchen, a
# photo whose top room ties kitchen with not_dwelling (kitchen listed first), one without a
# number for a sign, and one that abstained.
KINDS: list[dict[str, Any]] = [
    {},
    {"top": "kitchen", "tie": "not_dwelling"},
    {"signs": {"damp_mould": float("nan")}},
    {"abstain": True, "abstain_reasons": ("low_confidence",)},
]


def _family(web: Service) -> list[int]:
    """FAMILY with one photo per KINDS entry, scored so; the photo ids, in filing order."""
    web.create_family(FAMILY)
    ids = []
    for seed, kind in enumerate(KINDS, 70):
        answer = web.upload(FAMILY, jpeg(seed, size=(800, 600)))
        assert answer.status_code == 201, answer.text
        with session_scope(web.services.sessions) as session:
            photo = session.get(Photo, answer.json()["photo_id"])
            assert photo is not None
            photo.score = score_of(photo.sha256, **kind)
            photo.model_version, photo.quality = "photo-test", PASS
            ids.append(photo.id)
    return ids


def test_the_family_page_reads_each_photos_score_once_per_request(tmp_path, monkeypatch):
    # Before: every card parsed the stored score twice (heatmaps.not_a_home for the heat maps,
    # _left_out for the reasons) beside reading the raw dict for its tables.
    with started(tmp_path) as web:
        _family(web)
        client = TestClient(web.app, base_url="http://127.0.0.1")
        assert sign_in(client, "commission", PASSWORD).status_code == 303
        # The first view assesses the family (which reads the scores itself); the next is a
        # plain read of a current assessment.
        assert client.get(f"/ui/families/{FAMILY}").status_code == 200
        reads: list[str] = []
        parse = PhotoScore.from_dict.__func__  # type: ignore[attr-defined]

        def counted(cls: type[PhotoScore], data: dict[str, Any]) -> PhotoScore:
            reads.append(data["photo_sha256"])
            return parse(cls, data)  # type: ignore[no-any-return]

        monkeypatch.setattr(PhotoScore, "from_dict", classmethod(counted))
        page = client.get(f"/ui/families/{FAMILY}")
        assert page.status_code == 200, page.text
        assert page.text.count('<figure class="photo"') == len(KINDS)
        assert len(reads) == len(set(reads)) == len(KINDS), reads


def test_a_card_heads_its_rooms_with_the_room_the_assessment_reads(tmp_path):
    # Before: a top room tied with not_dwelling (the assessment and the card's own "not a
    # home" note read not_dwelling) was shown as "Room: kitchen (45 %)", the order it was
    # stored in deciding.
    taxonomy = get_taxonomy()
    with started(tmp_path) as web:
        ids = _family(web)
        user = current_user(web, "commission")
        with session_scope(web.services.sessions) as session:
            for number, photo_id in enumerate(ids, 1):
                photo = session.get(Photo, photo_id)
                assert photo is not None
                view = photo_view(web.services, photo, user, number=number)
                read = room_of(photo_score(photo, taxonomy), taxonomy)
                assert view.rooms[0][0] == read, (number, view.rooms)
                assert view.not_a_home == heatmaps.not_a_home(photo), number
            tied = session.get(Photo, ids[1])
            assert tied is not None and next(iter(tied.score["room"])) == "kitchen"  # stored first
        client = TestClient(web.app, base_url="http://127.0.0.1")
        assert sign_in(client, "commission", PASSWORD).status_code == 303
        page = client.get(f"/ui/families/{FAMILY}?lang=en").text
        cards = re.findall(r'<figure class="photo".*?</figure>', page, re.S)
        summary = re.search(r"<summary>(.*?)</summary>", html.unescape(cards[1]), re.S)
        assert summary, cards[1]
        t = translator("en")
        assert t.label("room", "not_dwelling") in summary.group(1), summary.group(1)
        assert t.label("room", "kitchen") not in summary.group(1), summary.group(1)


def test_the_demo_files_every_photo_whatever_the_upload_limit(tmp_path):
    # Before: the seeding's uploads met the service's per-user limit (120 a minute; 2 here),
    # those past it were refused (429) and skipped, and the demo was marked seeded without them.
    from serving.demo import SEED_MARKER, seed_demo

    settings = make_settings(tmp_path, "", rate_limits={"upload_per_minute": 2})
    uploaded = seed_demo(settings, n_families=24, seed=1)
    planned, stored, regions = demo_filed(settings)
    per_inspector = Counter(regions[family_id] for family_id, _ in planned)
    assert max(per_inspector.values()) > 2  # an inspector files more than the limit allows
    assert (settings.data_dir / SEED_MARKER).exists()
    assert stored == planned
    assert uploaded == len(planned)
    assert settings.rate_limits.upload_per_minute == 2  # the service's own settings unchanged
