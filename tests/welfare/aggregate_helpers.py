"""Photo scores made by hand and the rooms a home is expected to show, for the tests of the
visual aggregate."""

from __future__ import annotations

import numpy as np

from vision.score import PhotoScore

EXPECTED = ["kitchen", "bathroom", "bedroom", "living_room", "exterior"]


def score(taxonomy, room="kitchen", grade=3, *, sha="a", abstain=False, **overrides) -> PhotoScore:
    rooms = {r: (0.95 if r == room else 0.01) for r in taxonomy.room_names}
    grades = {g: (0.9 if g == grade else 0.025) for g in taxonomy.condition_values}
    signs = dict.fromkeys(taxonomy.sign_names, 0.05)
    for head, values in overrides.items():
        {"rooms": rooms, "grades": grades, "signs": signs}[head].update(values)
    return PhotoScore(sha, "vision-1", rooms, grades, signs, np.zeros(0), abstain=abstain)


def sure_score(taxonomy, room, condition, *, signs=None, abstain=False, sha="x") -> PhotoScore:
    rooms = {
        r: (0.9 if r == room else 0.1 / (len(taxonomy.room_names) - 1)) for r in taxonomy.room_names
    }
    grades = {g: (1.0 if g == condition else 0.0) for g in taxonomy.condition_values}
    sign_probs = {s: 0.0 for s in taxonomy.sign_names} | (signs or {})
    return PhotoScore(sha, "m1", rooms, grades, sign_probs, np.zeros(0), abstain=abstain)
