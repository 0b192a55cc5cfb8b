"""The report section on real photo scores: read from real_scores.json (`welfare evaluate-real`).

Rendered into docs/welfare-report.md by welfare.report, after the ceiling section: the fusion
models on engine-scored vs simulated photos of the same test families, a plain verdict on
whether fusion may trust the photos, and what the system should do while it may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shanyraq.display import decimals_keeping_side, side
from welfare.paired_bootstrap import ci_mark, methods_note
from welfare.real_provenance import provenance
from welfare.real_report_checks import engine_checks
from welfare.real_report_training import trained_families
from welfare.real_scores import scoring_description
from welfare.report import is_undefined, share

if TYPE_CHECKING:
    from welfare.criteria import Targets


def _pct(value: float | None, beside: Sequence[float] = ()) -> str:
    """A share in %, never rounded onto or across a share in `beside` (3.04 % beside 3 %)."""
    return "n/a" if is_undefined(value) else _signed(value, 100.0, 1, beside, sign="") + " %"


def _signed(
    value: float | None, scale: float, digits: int, beside: Sequence[float] = (), *, sign: str = "+"
) -> str:
    """`scale * value` with at least `digits` decimals, on its own side of each of `beside`."""
    if is_undefined(value):
        return "n/a"
    shown = scale * value  # type: ignore[operator]
    digits = decimals_keeping_side(shown, [scale * t for t in beside], least=digits, most=9)
    return f"{shown:{sign}.{digits}f}"


def _ci(
    figure: dict[str, Any] | None,
    *,
    points: bool = False,
    kappa: bool = False,
    beside: Sequence[float] = (),
) -> str:
    """value [low–high] as a percentage, a signed difference in points (kept on its side of
    zero), or a kappa; each never rounded across a figure in `beside` (in the figure's unit);
    an undefined figure or bound (null, or NaN in an older file) is n/a. An interval not made
    by the bootstrap carries its mark (paired_bootstrap.METHOD_NOTES)."""
    if not figure or is_undefined(figure["value"]):
        return "n/a"
    v, lo, hi, mark = figure["value"], figure["ci_low"], figure["ci_high"], ci_mark(figure)
    if points:
        scale, digits = (1.0, 3) if kappa else (100.0, 1)
        b = (0.0, *beside)
        bounds = f"{_signed(lo, scale, digits, b)}, {_signed(hi, scale, digits, b)}"
        return f"{_signed(v, scale, digits, b)} [{bounds}]{mark}"
    if kappa:
        return f"{v:.3f} [{_fixed(lo, 3)}–{_fixed(hi, 3)}]{mark}"
    return f"{_pct(v, beside)} [{_pct(lo, beside)}–{_pct(hi, beside)}]{mark}"


def _arm(key: str) -> str:
    """`model | reading` as table-safe text (a pipe would split a Markdown table cell)."""
    name, reading = key.split(" | ")
    return f"{name} ({reading} scores)"


def _passed(counts: dict[str, int] | None) -> str:
    if not counts:
        return "none"
    total = sum(counts.values())
    return _pct((total - counts.get("fail", 0)) / total) if total else "none"


def _fixed(value: float | None, digits: int) -> str:
    return "n/a" if is_undefined(value) else f"{value:.{digits}f}"


def _difference(real: dict[str, Any], subset: str, a: str, b: str, metric: str) -> dict | None:
    figures = (real.get(subset) or {}).get("differences", [])
    return next((d for d in figures if (d["a"], d["b"], d["metric"]) == (a, b, metric)), None)


def real_verdict(real: dict[str, Any], *, targets: Targets) -> list[str]:
    """Plain sentences: is fusion on engine scores worse than tabular-only, does exclusion rise."""
    fused, tabular = f"{real['fused']} | engine", f"{real['tabular']} | engine"
    simulated = f"{real['fused']} | simulated"
    arms = real["overall"]["arms"]
    gain = _difference(real, "overall", fused, tabular, "accuracy")
    worse = gain is not None and gain["value"] is not None and gain["value"] < 0
    sure = worse and gain is not None and (gain["ci_high"] or 0) < 0
    # "Worse" only when the interval says so; otherwise the point estimate is named as such.
    verdict = (
        "WORSE than"
        if sure
        else "no better than (the interval includes zero)"
        if worse
        else "not worse than"
    )
    lines = [
        f"**With photos scored by the vision model, `{real['fused']}` is "
        f"{verdict} tabular-only `{real['tabular']}`**: level "
        f"accuracy {_pct(arms[fused]['accuracy']['value'])} against "
        f"{_pct(arms[tabular]['accuracy']['value'])}, a difference of "
        f"{_ci(gain, points=True)} points"
        + (" (the interval excludes zero)." if sure else " (95 % interval)."),
    ]
    hidden = _difference(real, "hidden_income", fused, tabular, "accuracy")
    target = targets.hidden_income_gain_points
    if hidden is not None and hidden["value"] is not None:
        reached, shown = _reached(hidden, target), _ci(hidden, points=True, beside=(target / 100,))
        lines.append(
            f"On the {real['n_hidden_income']} hidden-income families, fused minus tabular-only "
            f"level accuracy with engine scores is {shown} points: the target "
            f"of +{target:g} points is {'reached' if reached else 'NOT reached'} with them."
        )
    ex_real, ex_sim = (arms[k]["exclusion_error"]["value"] for k in (fused, simulated))
    ex_tab = arms[tabular]["exclusion_error"]["value"]
    known = None not in (ex_real, ex_sim, ex_tab)
    rises = known and side(ex_real, min(ex_sim, ex_tab)) > 0
    rise = "RISES" if rises else "does not rise" if known else "cannot be compared"
    others = (ex_sim, ex_tab)
    lines.append(
        f"Exclusion error {rise}: {_pct(ex_real, others if known else ())} with engine "
        f"scores, {_pct(ex_sim, (ex_real,) if known else ())} with simulated scores, "
        f"{_pct(ex_tab, (ex_real,) if known else ())} tabular-only "
        f"({_eligible_note(real['overall']['n_eligible'], ex_real)})."
    )
    review = (
        arms[fused]["needs_review_rate"]["value"],
        arms[simulated]["needs_review_rate"]["value"],
    )
    doubts = (real.get("review_doubts") or {}).get("engine", {})
    top = sorted(((k, n) for k, n in doubts.items() if n), key=lambda kv: -kv[1])[:3]
    lines.append(
        f"needs_review: {_pct(review[0])} with engine scores, {_pct(review[1])} simulated"
        + (
            "; most common doubts with engine scores: "
            + ", ".join(f"{kind} ({n:,} families)" for kind, n in top)
            if top
            else ""
        )
        + "."
    )
    return lines


def engine_trained_verdict(real: dict[str, Any], *, targets: Targets) -> list[str]:
    """Plain sentences on the fused model trained on engine scores (`welfare train-engine`)."""
    name = real.get("engine_trained")
    if not name:
        return []
    trained, tabular = f"{name} | engine", f"{real['tabular']} | engine"
    arms, source = real["overall"]["arms"], real.get("engine_training") or {}
    gain = _difference(real, "overall", trained, tabular, "accuracy")
    hidden = _difference(real, "hidden_income", trained, tabular, "accuracy")
    low = gain["ci_low"] if gain else None
    beats = low is not None and low > 0  # only an interval above zero counts as a win
    exclusion = arms[trained]["exclusion_error"]["value"]
    review = arms[trained]["needs_review_rate"]["value"]
    target = targets.hidden_income_gain_points
    reached = _reached(hidden, target)
    return [
        f"**`{name}`, the `{real['fused']}` recipe trained on engine scores** "
        f"({trained_families(source)}, "
        f"their photos rendered and scored as here; reuse: {_reuse(source)}), "
        + ("BEATS" if beats else "does NOT beat")
        + f" tabular-only on engine scores: level accuracy "
        f"{_pct(arms[trained]['accuracy']['value'])} against "
        f"{_pct(arms[tabular]['accuracy']['value'])}, {_ci(gain, points=True)} points"
        + (" (the interval excludes zero)." if beats else " (the interval does not exclude zero)."),
        "On hidden-income families it differs from tabular-only by "
        f"{_ci(hidden, points=True, beside=(target / 100,))} points: the +{target:g}-point target "
        f"is {'reached' if reached else 'NOT reached'}. "
        f"Exclusion error {_pct(exclusion, (targets.exclusion_error,))} "
        f"({_eligible_note(real['overall']['n_eligible'], exclusion)}; "
        f"{_against(exclusion, targets.exclusion_error)} target); needs_review "
        f"{_ci(arms[trained]['needs_review_rate'], beside=(targets.needs_review_rate,))}, "
        f"{_against(review, targets.needs_review_rate)} target "
        f"(tabular-only: {_pct(arms[tabular]['needs_review_rate']['value'])} with the "
        f"same photos; {_review_cause(real.get('review_by_photos_engine_trained'))}).",
        *engine_checks(real),
    ]


def _reached(gain: dict[str, Any] | None, target_points: float) -> bool:
    """A gain reaches its target when on or above it (float noise is no side, as displayed)."""
    value = gain["value"] if gain else None
    return not is_undefined(value) and side(100 * value, target_points) >= 0  # type: ignore[operator]


def _against(value: float | None, target: float) -> str:
    """Where a rate stands against its ceiling, as the figure beside it shows it."""
    if is_undefined(value):
        return f"not measured against the {share(target)}"
    return f"{'within' if side(value, target) <= 0 else 'ABOVE'} the {share(target)}"  # type: ignore[arg-type]


def _review_cause(counts: dict[str, int] | None) -> str:
    """What sent families to review, as far as the recorded counts show it; no claim without."""
    if not counts:
        return "the doubts that sent these families to review are in the table below"
    sent, photo = counts["families_to_review"], counts["with_a_photo_doubt"]
    cause = f"{photo:,} of the {sent:,} families it sent to review had a doubt about their photos"
    if 2 * photo > sent:
        cause += "; the photos' doubts in the table below, not the model, send most of these"
        cause += " families to review"
    return cause


def _eligible_note(n_eligible: int, exclusion: float | None) -> str:
    if exclusion == 0 and n_eligible:
        # With no event in n trials, the rate is below 1 - 0.05^(1/n) at 95 % (one-sided);
        # the rule of three, 3/n, approximates it for large n but passes 100 % below n = 3.
        bound = _pct(1 - 0.05 ** (1 / n_eligible))
        return f"{n_eligible:,} eligible families; none excluded: below {bound} at 95 %"
    return f"{n_eligible:,} eligible families"


def _real_tables(real: dict[str, Any]) -> list[str]:
    hidden = real.get("hidden_income") or {}
    lines = [
        "| model | photo scores | accuracy [95 % CI] | macro-F1 | QWK [CI] | exclusion [CI] "
        f"| needs_review [CI] | hidden-income accuracy [CI], n = {real['n_hidden_income']} |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, f in real["overall"]["arms"].items():
        name, reading = key.split(" | ")
        h = (hidden.get("arms") or {}).get(key, {}).get("accuracy")
        lines.append(
            f"| {name} | {reading} | {_ci(f['accuracy'])} | {_fixed(real['macro_f1'][key], 3)} | "
            f"{_ci(f['qwk'], kappa=True)} | {_ci(f['exclusion_error'])} | "
            f"{_ci(f['needs_review_rate'])} | {_ci(h)} |"
        )
    lines += [
        "",
        "Paired differences (same families, same resamples; percentage points, QWK as a kappa "
        "difference; 95 % CI). With engine scores the tabular models differ from simulated only "
        "in the review doubts that photos raise:",
        "",
        "| a minus b | metric | all test families | hidden-income families |",
        "| --- | --- | --- | --- |",
    ]
    for d in real["overall"]["differences"]:
        h = _difference(real, "hidden_income", d["a"], d["b"], d["metric"])
        kappa = d["metric"] == "qwk"
        lines.append(
            f"| {_arm(d['a'])} − {_arm(d['b'])} | {d['metric']} | "
            f"{_ci(d, points=True, kappa=kappa)} | {_ci(h, points=True, kappa=kappa)} |"
        )
    return lines


def _real_photo_lines(real: dict[str, Any]) -> list[str]:
    photos = real["photos"]
    graded = photos["condition_on_usable_photos"]
    corr = real["condition_vs_level"]
    eng, sim = graded["engine"], graded["simulated"]
    lines = [
        "",
        f"Photos ({photos['n_photos']:,}): room top-1 accuracy {_pct(photos['room_accuracy'])}; "
        "condition (median grade) on usable photos (planned usable, not abstained): engine "
        f"{_pct(eng['accuracy'])} exact, QWK {_fixed(eng['qwk'], 3)} (n = {eng['n']:,}); "
        f"simulated {_pct(sim['accuracy'])}, QWK {_fixed(sim['qwk'], 3)} (n = {sim['n']:,}). "
        "Spearman correlation of a family's mean photo grade with its true level: engine "
        f"{_fixed(corr['engine'], 2)}, simulated {_fixed(corr['simulated'], 2)}.",
        "",
        "| abstention | " + " | ".join(("engine", "simulated")) + " |",
        "| --- | --- | --- |",
    ]
    kinds = list(dict.fromkeys([*photos["abstained"]["engine"], *photos["abstained"]["simulated"]]))
    for kind in kinds:
        cells = [str(photos["abstained"][r].get(kind, 0)) for r in ("engine", "simulated")]
        lines.append(f"| {kind.replace('|', ' + ')} | " + " | ".join(cells) + " |")
    gate = photos["gate_by_planned"]
    lines += [
        "",
        "Quality gate by what the generator planned. Its blur thresholds were measured on 512 px "
        f"copies; on these {real['size']} px renders it lets {_passed(gate.get('blurred'))} of "
        "planned-blurred photos through to the engine (the simulation fails them all), so part "
        "of that row is the study's small size.",
        "",
    ]
    lines += ["| planned | pass | warn | fail |", "| --- | --- | --- | --- |"]
    for planned, counts in gate.items():
        row = [str(counts.get(s, 0)) for s in ("pass", "warn", "fail")]
        lines.append(f"| {planned} | " + " | ".join(row) + " |")
    by = ", ".join(f"{k} {v}" for k, v in photos.get("reused_by_planned", {}).items())
    matched = (
        f"{photos['reused_flagged']} photos of distinct rendered homes matched another family's "
        f"({by}); none was planned as reused, so every match is a false one."
        if photos["reused_flagged"]
        else "no photo matched another family's (none was planned as reused)."
    )
    lines += [
        "",
        f"Reuse check (as the service does it, configs/engine.yaml `hashing`, over all "
        f"{photos['n_photos']:,} photos): {matched}"
        + " Synthetic homes share a few styles and layouts, so they collide more often than "
        "real homes would; but false matches grow with the number of stored photos, which the "
        "service's index will face too.",
        "",
        f"Why `{real['fused']}` sent families to review (one family may have several doubts):",
        "",
        "| doubt | simulated | engine |"
        + (f" `{real['engine_trained']}`, engine |" if real.get("engine_trained") else ""),
        "| --- | --- | --- |" + (" --- |" if real.get("engine_trained") else ""),
    ]
    doubts = real.get("review_doubts") or {"simulated": {}, "engine": {}}
    trained = real.get("review_doubts_engine_trained")
    for kind, n_sim in doubts["simulated"].items():
        extra = f" {trained.get(kind, 0)} |" if trained is not None else ""
        lines.append(f"| {kind} | {n_sim} | {doubts['engine'].get(kind, 0)} |{extra}")
    return lines


REAL_PROPOSAL = [
    "What the system does until a fused model is chosen on engine scores: configs/welfare.yaml "
    "`fusion.serving_model` is `lgbm_tabular`, so assessments (the demo, and the model a site "
    "deploys) use the tabular model; photos still go through the quality gate and reuse check, "
    "their flags still send families to review, and the commission still sees them. Fusion "
    "trained on engine scores (`shanyraq welfare train-engine`) is measured above; to serve it, "
    "(1) it must be registered as a serving choice (`serving_model` accepts registered names "
    "only) and re-trained whenever the vision model changes, since it learned that model's "
    "errors; (2) this comparison becomes a release check: `serving_model` becomes a fused model "
    "only when it beats tabular-only on engine scores with an interval above zero and "
    "exclusion error does not rise; (3) measure the reuse radius and the low-confidence abstain "
    "threshold (configs/engine.yaml) at the service's scale: false reuse matches and "
    "abstentions send families to review (the doubt table above)."
]


def real_score_lines(
    real: dict[str, Any] | None, *, targets: Targets, context: dict[str, Any] | None = None
) -> list[str]:
    """The section on real photo scores, from real_scores.json (`welfare evaluate-real`);
    `context`: the evaluation's (report.write_report), whose configuration it is compared with."""
    if not real:
        return []
    lines = [
        "## With photos scored by the vision model",
        "",
        f"Command: `{real['command']}`. {real['n_families']:,} families of the test split above "
        f"(data n = {real['data']['n']:,}, seed {real['data']['seed']}; never seen in training); "
        f"each planned photo rendered by training.synth at {real['size']} px with the seed "
        "`write_families` gives it, JPEG-encoded, decoded by vision.io, judged by the quality "
        "gate (its resolution check moved to the render size), checked for reuse and scored by "
        f"`{real['vision_model']}`; the same families' simulated scores beside them. The "
        f"fusion models are the saved ones (trained on simulated scores)"
        + (
            f", and `{real['engine_trained']}` (trained on engine scores of training families)"
            if real.get("engine_trained")
            else ""
        )
        + f"; reuse: {_reuse(real)}. {real['n_boot']} paired bootstrap resamples of families "
        f"give the 95 % intervals{methods_note(real['overall'], real.get('hidden_income'))}. "
        f"{scoring_description(real['cache'])}{real['assessments']['agree_with_batch']} of "
        f"{real['assessments']['n']} families "
        "assessed one by one through `welfare.assess` got the batch figures' level and "
        f"recommendation. {provenance(real, context)}",
        "",
        *real_verdict(real, targets=targets),
        "",
        *engine_trained_verdict(real, targets=targets),
        "",
        *_real_tables(real),
        *_real_photo_lines(real),
        "",
        *REAL_PROPOSAL,
        "",
    ]
    return lines


def _reuse(record: dict[str, Any]) -> str:
    """How reuse was checked; records written before verification name a full-hash radius, and
    one recording neither is said not to have recorded it (no radius is made up for it)."""
    if "reuse" in record:
        return str(record["reuse"])
    if "reuse_radius" in record:
        return f"full hash within {record['reuse_radius']} bits"
    return "how it was checked was not recorded"
