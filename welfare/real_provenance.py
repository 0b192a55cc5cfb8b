"""Which code and configs/welfare.yaml measured real_scores.json (`welfare evaluate-real`), and
whether that configuration is the one the report evaluated: the sentence the report's section
on real photo scores (welfare.real_report) ends its introduction with.

The configuration is named and compared by its measured digest (WelfareConfig.measured_digest:
targets and `fairness.intervals` aside, which shape no saved measurement), the digest by which
`welfare evaluate` leaves a stale file out of the report (welfare.report_measurements), so a
change to those parts alone shows no different digest.
"""

from __future__ import annotations

from typing import Any

from welfare.report_measurements import MEASURED_DIGEST, same_welfare_config


def provenance(real: dict[str, Any], context: dict[str, Any] | None) -> str:
    """Which code and configuration measured `real`, and whether it is the one the evaluation
    (`context`, the report's; None: not known) was made with; older files recorded neither."""
    digest = real.get(MEASURED_DIGEST)
    if not digest:
        return (
            "real_scores.json records no configs/welfare.yaml digest (written before it was "
            "recorded), so whether the configuration evaluated above measured it is unknown; "
            "`shanyraq welfare evaluate-real` records it and the code version."
        )
    named = (
        f"Measured by code `{real.get('code_version', 'unrecorded')}` with configs/welfare.yaml "
        f"`{digest[:12]}` (its digest with the targets and `fairness.intervals` aside)"
    )
    evaluated = context or {}
    same = same_welfare_config(real, evaluated)
    if same:
        return f"{named}: the same configuration as the one evaluated above."
    if same is False:
        ours = evaluated[MEASURED_DIGEST][:12]
        return (
            f"{named}: NOT the configuration evaluated above (`{ours}`), so these figures may "
            "not hold for it."
        )
    return (
        f"{named}; the evaluation above records no such digest, so whether it was made with "
        "the same configuration is unknown."
    )
