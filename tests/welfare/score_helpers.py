"""A photo score with every head of the taxonomy, as `score --json` writes it under 'score'."""

from __future__ import annotations

from shanyraq.taxonomy import get_taxonomy

PHOTO = "ab" * 32


def good_score(photo: str = PHOTO) -> dict:
    """A score with every head of the taxonomy, as `score --json` writes it under 'score'."""
    taxonomy = get_taxonomy()
    rooms, grades = taxonomy.room_names, taxonomy.condition_values
    return {
        "photo_sha256": photo,
        "model_version": "demo-test",
        "room": {name: (1.0 if name == taxonomy.dwelling_rooms[0] else 0.0) for name in rooms},
        "condition": {str(g): 1.0 / len(grades) for g in grades},
        "signs": dict.fromkeys(taxonomy.sign_names, 0.1),
        "abstain": False,
        "abstain_reasons": [],
    }
