"""Photo scores read from a file (`welfare assess --scores`), each checked against the taxonomy.

A score in a file was written by hand or by another tool, not by the engine, so nothing about it
is taken on trust: a room or sign the taxonomy (configs/taxonomy.yaml) does not have, a head
left out, a grade outside the taxonomy's, or a probability that is not a finite number in 0..1
would otherwise count as a usable photo and become the fusion model's evidence. A probability
may be null (the model gave no number: `score --json` writes NaN so) only in a score that
abstains, which is never evidence; a score that gives reasons to abstain must abstain. A photo
listed twice would weigh twice, and a key given twice in one entry would drop a value, so both
are refused too. Every entry is checked before any is used; a bad one is an InputFileError
naming the entry (its position and photo id) and the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

from shanyraq.errors import InputFileError, read_json_file
from shanyraq.json_values import is_finite_number
from shanyraq.taxonomy import Taxonomy, get_taxonomy
from vision.quality import Status
from vision.score import ABSTAIN_REASONS, PhotoScore
from welfare.aggregate import PhotoFlags

# A room or condition distribution sums to 1; a file rounded to a few decimals still passes.
SUM_TOLERANCE = 0.01
REQUIRED = ("photo_sha256", "model_version", "room", "condition", "signs")
OPTIONAL = ("embedding", "abstain", "abstain_reasons", "flags")
QUALITY_STATUSES: tuple[str, ...] = get_args(Status)
# The bad entries named in one refusal; the rest are counted.
SHOWN = 5


def read_photo_scores(
    path: Path, *, taxonomy: Taxonomy | None = None
) -> tuple[list[PhotoScore], list[PhotoFlags | None]]:
    """The scores in `path` (a JSON list of `PhotoScore.to_dict` objects, each with an
    optional 'flags' object) and their flags, aligned; InputFileError when any entry does not
    fit the taxonomy, naming each bad entry's problems (the first SHOWN entries)."""
    items = read_json_file(path, "a JSON list of photo scores")
    if not isinstance(items, list):
        raise InputFileError(f"{path}: expected a JSON list of photo score objects")
    taxonomy = taxonomy or get_taxonomy()
    first = _first_entries(items)
    bad = [
        f"{_entry(index, item)}: {'; '.join(problems)}."
        for index, item in enumerate(items, start=1)
        if (problems := entry_problems(item, taxonomy) + _repeat_problems(index, item, first))
    ]
    if bad:
        more = f" And {len(bad) - SHOWN} more entries." if len(bad) > SHOWN else ""
        raise InputFileError(
            f"{path}: {len(bad)} of {len(items)} photo score(s) cannot be used, so nothing was "
            f"assessed. {' '.join(bad[:SHOWN])}{more} Each entry needs the fields `shanyraq "
            "score --json` writes under 'score', with the rooms, grades and signs of "
            "configs/taxonomy.yaml"
        )
    scores = [PhotoScore.from_dict(item) for item in items]
    flags = [PhotoFlags(**item["flags"]) if item.get("flags") else None for item in items]
    return scores, flags


def _photo(item: object) -> str | None:
    photo = item.get("photo_sha256") if isinstance(item, dict) else None
    return photo.strip().lower() if isinstance(photo, str) and photo.strip() else None


def _first_entries(items: Sequence[object]) -> dict[str, int]:
    """Each photo's first entry (its position from 1)."""
    first: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
        if (photo := _photo(item)) is not None:
            first.setdefault(photo, index)
    return first


def _repeat_problems(index: int, item: object, first: Mapping[str, int]) -> list[str]:
    """A photo listed again: it would count as another photo of the home (the service keeps
    one photo once per family), so its evidence would weigh twice."""
    photo = _photo(item)
    if photo is None or first[photo] == index:
        return []
    return [f"the same photo as entry {first[photo]}; list each photo once"]


def _entry(index: int, item: object) -> str:
    """'entry 3 (photo 0f3c...)': the entry's position in the list, and its photo if it has one."""
    photo = item.get("photo_sha256") if isinstance(item, dict) else None
    return f"entry {index}" + (f" (photo {photo})" if isinstance(photo, str) and photo else "")


def entry_problems(item: object, taxonomy: Taxonomy) -> list[str]:
    """What is wrong with one entry of a scores file, each naming its field; [] when nothing."""
    if not isinstance(item, dict):
        return [f"not a JSON object but {_json_kind(item)}"]
    problems = [f"{key} is missing" for key in REQUIRED if key not in item]
    unknown = sorted(set(item) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}")
    for key in ("photo_sha256", "model_version"):
        if key in item and not (isinstance(item[key], str) and item[key].strip()):
            problems.append(f"{key} is not a non-empty text")
    heads = {
        "room": (taxonomy.room_names, True),
        "condition": ([str(v) for v in taxonomy.condition_values], True),
        "signs": (taxonomy.sign_names, False),
    }
    # null: the model gave no number (NaN/inf, PhotoScore.to_dict); only an abstaining score
    # may say so, since then none of its numbers is read.
    abstains = item.get("abstain") is True
    for head, (names, sums_to_one) in heads.items():
        if head in item:
            problems += _head_problems(
                head, item[head], names, sums_to_one=sums_to_one, null_allowed=abstains
            )
    problems += _abstain_problems(item)
    problems += _flag_problems(item.get("flags"))
    embedding = item.get("embedding", [])
    if not (isinstance(embedding, list) and all(is_finite_number(x) for x in embedding)):
        problems.append("embedding is not a list of finite numbers")
    return problems


def _json_kind(value: object) -> str:
    """What JSON calls a value's kind: null (as `jq '[.[].score]'` writes for a photo `score`
    could not decode), not Python's NoneType."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else type(value).__name__


def _head_problems(
    head: str, value: object, names: Sequence[str], *, sums_to_one: bool, null_allowed: bool
) -> list[str]:
    if not isinstance(value, dict):
        return [f"{head} is not an object of probabilities"]
    problems = []
    unknown = [str(k) for k in value if k not in names]
    missing = [name for name in names if name not in value]
    if unknown or missing:
        wrong = [f"has {', '.join(unknown)}, not in the taxonomy"] if unknown else []
        if missing and len(missing) < len(names):  # none of them: what it needs says so
            wrong.append(f"lacks {', '.join(missing)}")
        needs = f"needs one probability for each of {', '.join(names)}"
        problems.append(f"{head} {' and '.join(wrong)}: it {needs}" if wrong else f"{head} {needs}")
    problems += [
        f"{head}.{k} = {v!r} is not a probability (a finite number from 0 to 1"
        + ("; null only in a score with abstain true" if v is None else "")
        + ")"
        for k, v in value.items()
        if not ((v is None and null_allowed) or (is_finite_number(v) and 0.0 <= v <= 1.0))
    ]
    if sums_to_one and not problems and None not in value.values():
        total = math.fsum(value.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            problems.append(f"{head} probabilities sum to {total:.3g}, not 1")
    return problems


def _abstain_problems(item: Mapping[str, Any]) -> Iterator[str]:
    abstain = item.get("abstain", False)
    if not isinstance(abstain, bool):
        yield "abstain is not true or false"
    reasons = item.get("abstain_reasons", [])
    if not isinstance(reasons, list):
        yield "abstain_reasons is not a list"
        return
    for reason in reasons:
        if reason not in ABSTAIN_REASONS:
            yield f"abstain_reasons has {reason!r}, not one of {', '.join(ABSTAIN_REASONS)}"
    if abstain is False and reasons:
        # The engine abstains whenever it has a reason to: read as evidence, a photo it called
        # not a home or failed on quality would count as a usable photo.
        named = ", ".join(map(str, reasons))
        yield (
            f"abstain is false but abstain_reasons names {named}; set abstain to true, or "
            "clear abstain_reasons if the photo may be used"
        )


def _flag_problems(flags: object) -> list[str]:
    if flags is None:
        return []
    if not isinstance(flags, dict):
        return ["flags is not an object"]
    known = {f.name for f in fields(PhotoFlags)}
    problems = [f"flags has unknown field {k!r}" for k in flags if k not in known]
    status = flags.get("quality_status", "pass")
    if status not in QUALITY_STATUSES:
        allowed = ", ".join(QUALITY_STATUSES)
        problems.append(f"flags.quality_status is {status!r}, not one of {allowed}")
    for name in ("reused", "repeated"):
        if not isinstance(flags.get(name, False), bool):
            problems.append(f"flags.{name} is not true or false")
    return problems
