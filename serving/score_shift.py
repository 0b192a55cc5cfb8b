"""How a photo population's scores shift between two models: the dry run of a promotion.

Per head, over the same photos: the abstain rate, the mean condition grade (expected grade,
over photos that do not abstain: a non-dwelling photo has no condition), how often each room
is the top room and how many photos change top room, and each sign's mean probability. A
score without numbers (NaN or infinite, stored as null: vision.score.PhotoScore.to_dict)
abstains and is counted as such, but has no top room and no sign to average; so does one
without a room or grade at all (an empty head: `PhotoScore.has_numbers`, as the drift report
reads it), which names no top room either.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from vision.score import PhotoScore


@dataclass(frozen=True)
class HeadSummary:
    """One model's scores over the photos compared."""

    photos: int  # photos with a readable score
    abstain_rate: float | None
    mean_condition: float | None  # over photos that do not abstain
    top_rooms: dict[str, int]  # over photos with numbers
    mean_signs: dict[str, float]  # over photos with numbers that give the sign
    without_numbers: int = 0  # photos whose score holds NaN, infinite or no probabilities


@dataclass(frozen=True)
class ScoreShift:
    old: HeadSummary
    new: HeadSummary
    room_changed: int  # photos whose top room differs between the two models
    old_unreadable: int  # photos whose current score is absent or not a PhotoScore


def read_score(data: dict[str, Any] | None) -> PhotoScore | None:
    """The stored score as a PhotoScore; None when there is none or it is not one."""
    if not data:
        return None
    try:
        return PhotoScore.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _counted(score: PhotoScore) -> bool:
    """Whether the score names a top room and a grade and gives every probability as a
    number: one that does not adds no top room, sign or grade (`without_numbers`)."""
    return score.has_numbers and score.finite


@dataclass
class _Side:
    photos: int = 0
    abstained: int = 0
    condition_sum: float = 0.0
    condition_n: int = 0
    without_numbers: int = 0
    rooms: Counter[str] = field(default_factory=Counter)
    sign_sums: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    # Photos giving each sign: current scores of older models may lack one a later one added.
    sign_photos: Counter[str] = field(default_factory=Counter)

    def add(self, score: PhotoScore) -> None:
        self.photos += 1
        self.abstained += int(score.abstain)
        if not _counted(score):  # its top room: the first label, or none; its sign means NaN
            self.without_numbers += 1
            return
        self.rooms[score.top_room] += 1
        for sign, p in score.signs.items():
            self.sign_sums[sign] += p
            self.sign_photos[sign] += 1
        if not score.abstain:
            self.condition_sum += score.expected_condition
            self.condition_n += 1

    def summary(self) -> HeadSummary:
        n = self.photos
        return HeadSummary(
            photos=n,
            abstain_rate=self.abstained / n if n else None,
            mean_condition=self.condition_sum / self.condition_n if self.condition_n else None,
            top_rooms=dict(sorted(self.rooms.items())),
            mean_signs={
                sign: total / self.sign_photos[sign]
                for sign, total in sorted(self.sign_sums.items())
            },
            without_numbers=self.without_numbers,
        )


class ShiftTally:
    """Accumulates (old, new) score pairs a batch at a time; `result()` gives the shift."""

    def __init__(self) -> None:
        self._old, self._new = _Side(), _Side()
        self._room_changed = self._old_unreadable = 0

    def add(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        before, after = read_score(old), read_score(new)
        if after is not None:
            self._new.add(after)
        if before is None:
            self._old_unreadable += 1
            return
        self._old.add(before)
        if after is None or not (_counted(before) and _counted(after)):
            return
        if before.top_room != after.top_room:
            self._room_changed += 1

    def result(self) -> ScoreShift:
        return ScoreShift(
            old=self._old.summary(), new=self._new.summary(),
            room_changed=self._room_changed, old_unreadable=self._old_unreadable,
        )  # fmt: skip


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def shift_lines(shift: ScoreShift) -> list[str]:
    """The shift in plain words, old -> new, one line per measure."""
    old, new = shift.old, shift.new
    lines = [
        f"  photos compared: {old.photos} with a current score -> {new.photos} with a new one"
        + (f" ({shift.old_unreadable} without a readable current score)"
           if shift.old_unreadable else ""),
        f"  abstain rate: {_number(old.abstain_rate)} -> {_number(new.abstain_rate)}",
        f"  mean condition grade (not abstaining): {_number(old.mean_condition, 2)} -> "
        f"{_number(new.mean_condition, 2)}",
        f"  top room changed on {shift.room_changed} photo(s)",
    ]  # fmt: skip
    if old.without_numbers or new.without_numbers:
        lines.append(
            f"  scores without numbers (NaN; no top room or sign counted): "
            f"{old.without_numbers} -> {new.without_numbers} photo(s)"
        )
    for room in sorted(set(old.top_rooms) | set(new.top_rooms)):
        lines.append(
            f"    {room}: {old.top_rooms.get(room, 0)} -> {new.top_rooms.get(room, 0)} photo(s)"
        )
    for sign in sorted(set(old.mean_signs) | set(new.mean_signs)):
        lines.append(
            f"  sign {sign}, mean probability: {_number(old.mean_signs.get(sign))} -> "
            f"{_number(new.mean_signs.get(sign))}"
        )
    return lines
