"""The fusion model folder: what it holds, reading it, and saving models into their folders.

A folder holds fusion.json (`FusionMeta`: name, version, features, training-data hash, recipe,
seed, calibration, metrics, each head file's sha256, what its features were computed under and
the poverty line its ASP labels were drawn under, each checked on load) and one file per head,
of the kind its learner uses (the learners live in welfare/heads.py). Random-forest heads are
stored with joblib (pickle): load only folders you trained or trust. A refusal names the
command that builds the model again (`retrain_command`; with options, welfare/retrain_words.py;
for a fusion.json that cannot be read whole, from what is left of it and from the command and
name a level head saved as JSON records, `builder_note`, welfare/unread_words.py).

Models are saved together (`save_models`): each is written whole in a staging folder beside
its own, and the staged folders are swapped in all or none (welfare/model_staging.py); a model
replaces only a folder that is new, empty or a fusion model's (`check_destination`), so a
failure leaves the old models as they were. `welfare train` replaces a fusion model's folder
only when asked (`check_replacing`). `check_trained_alike` refuses to save models beside ones
in the same folder that were trained on other data, a mix `welfare evaluate` would refuse (both
in welfare/model_replacing.py), and `check_basis_alike` beside ones whose features were
computed otherwise than now or whose ASP labels were drawn under another poverty line than
today's (welfare/fusion_version.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from shanyraq import provenance
from shanyraq.atomic import not_replaceable
from shanyraq.errors import ModelMismatchError, OutputExistsError, ShanyraqError, read_text
from shanyraq.json_values import is_finite_number
from shanyraq.manifest import sha256_file
from welfare.criteria import FusionRecipe
from welfare.heads import CumulativeLightGBMHead, ForestHead, Head, LightGBMHead
from welfare.model_staging import write_all

if TYPE_CHECKING:
    from welfare.fusion import FusionModel

ARTIFACT_FORMAT = 1
META_FILE = "fusion.json"
Learner = Literal["lightgbm", "random_forest"]


class TrainingDataMismatchError(ShanyraqError):
    """Models would be saved beside models in the same folder that were trained on other data."""

    code = "training_data_mixed"
    http_status = 409

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason  # what differs, without what to do (None: only the message says)


@dataclass
class FusionMeta:
    """Everything in fusion.json."""

    name: str
    learner: Learner
    visual: bool
    version: str
    features: list[str]
    levels: list[int]
    training_data_hash: str
    n_train: int
    n_calibration: int
    temperature: float
    platt: tuple[float, float]
    level_decoding: str
    background: dict[str, float]
    level_objective: str = "multiclass"
    # The recipe (configs/welfare.yaml `fusion`) and seed it was fitted with; None in
    # artifacts saved before they were recorded (their version is then the data hash's).
    recipe: dict[str, Any] | None = None
    seed: int | None = None
    # Read through the module when a model is made, not bound at import: a caller or test that
    # replaces shanyraq.provenance.code_version reaches it.
    code_version: str = field(default_factory=lambda: provenance.code_version())
    format: int = ARTIFACT_FORMAT
    metrics: dict[str, Any] = field(default_factory=dict)
    head_sha256: dict[str, str] | None = None  # each head file's, checked on load
    # The fingerprint of the taxonomy a model reading photo features was trained under (they
    # are named and pooled by its labels), checked on load; None for a tabular model or one
    # saved before it was recorded.
    taxonomy_sha256: str | None = None
    # What else decided its features' values (welfare.features.feature_basis: the feature code's
    # version, the subsistence minimum, the criteria and their categories), checked on load; None
    # for one saved before it was recorded.
    feature_basis: dict[str, Any] | None = None
    # What its ASP labels were drawn under (welfare.fusion_version.label_basis: the poverty line
    # and its source), checked on load: its P(eligible) answers for that line. None for one
    # saved before it was recorded.
    label_basis: dict[str, Any] | None = None


_LEVEL_HEADS: dict[tuple[Learner, str], Any] = {
    ("lightgbm", "multiclass"): LightGBMHead,
    ("lightgbm", "cumulative"): CumulativeLightGBMHead,
    ("random_forest", "multiclass"): ForestHead,
}
_ASP_HEADS: dict[Learner, Any] = {"lightgbm": LightGBMHead, "random_forest": ForestHead}


def level_head_class(learner: Learner, objective: str) -> Any:
    """The level head a learner uses; a forest has one kind whatever the LightGBM objective."""
    return _LEVEL_HEADS[(learner, "multiclass" if learner == "random_forest" else objective)]


def asp_head_class(learner: Learner) -> Any:
    """The ASP head a learner uses."""
    return _ASP_HEADS[learner]


def _head_files(meta: FusionMeta, folder: Path) -> list[tuple[Any, Path]]:
    """The (head class, file) of the level head and of the ASP head in a model's folder."""
    level = level_head_class(meta.learner, meta.level_objective)
    asp = asp_head_class(meta.learner)
    return [(level, folder / f"level{level.suffix}"), (asp, folder / f"asp{asp.suffix}")]


# The commands that build a fusion model (welfare/cli.py): `welfare train` fits the registered
# models on simulated photo scores, `welfare train-engine` lgbm_fused on the vision engine's.
TRAIN = "shanyraq welfare train"
TRAIN_ENGINE = "shanyraq welfare train-engine"
# A head file read without its folder's metadata: nothing tells which of them built the model.
_RETRAIN = (
    f"; train the model again with `{TRAIN}`, or `{TRAIN_ENGINE}` if it was trained on the "
    "vision engine's photo scores"
)


# What a level head saved as JSON (level.json, the cumulative objective's) records beside its
# boosters: the command that built the model and the model's name, read where fusion.json cannot
# be (welfare/unread_words.py). Loading ignores them, and the folder holds the files it held, so
# older code reads and replaces it alike.
BUILT_BY, MODEL_NAME = "built_by", "model"
BUILDERS = {"welfare train": TRAIN, "welfare train-engine": TRAIN_ENGINE}


def builder_note(meta: FusionMeta) -> dict[str, str]:
    """What the level head file of the model of `meta` records of it: the command that built it
    (as its metrics tell, `retrain_command`) and its name."""
    built_by = next(k for k, v in BUILDERS.items() if v == retrain_command(meta.metrics))
    return {BUILT_BY: built_by, MODEL_NAME: meta.name}


def retrain_command(metrics: object) -> str:
    """The command that builds again the model whose fusion.json records `metrics`: `welfare
    train-engine` for one whose training data (metrics `data`, as `welfare.real_training` records
    them) name the vision model that scored its photos, or, saved before it was named apart, say
    its photos were scored by a vision engine; `welfare train` otherwise."""
    data = metrics.get("data") if isinstance(metrics, Mapping) else None
    if not isinstance(data, Mapping):
        return TRAIN
    engine = data.get("vision_model") or str(data.get("photos", "")).startswith("vision engine ")
    return TRAIN_ENGINE if engine else TRAIN


def _again(folder: Path, data: object) -> str:
    """What to do about the model in `folder` whose fusion.json, holding `data` (None: not read
    as JSON), is not read whole: the command that builds it again, as complete as its folder and
    what is left of its metadata tell (`unread_words.unread_again`)."""
    from welfare.unread_words import unread_again  # it imports this module

    return unread_again(folder, data)


def _build_again(folder: Path, meta: FusionMeta) -> str:
    """What to do about the model of `meta` in `folder` whose head files cannot be read: build it
    again where it is, with every option it records (`retrain_words.build_again`)."""
    from welfare.retrain_words import build_again  # it imports this module

    return f"; train the model again with {build_again(folder, meta)}"


# Every name a fusion model's folder may hold: its metadata and a head file of any kind.
MODEL_FILES = frozenset(
    {META_FILE}
    | {
        f"{part}{kind.suffix}"
        for part in ("level", "asp")
        for kind in {*_LEVEL_HEADS.values(), *_ASP_HEADS.values()}
    }
)


def model_folders(folder: Path) -> list[Path]:
    """The fusion models' folders in `folder` (each subfolder with a fusion.json), by name."""
    return sorted(p.parent for p in Path(folder).glob(f"*/{META_FILE}"))


def read_model(folder: Path) -> tuple[FusionMeta, Head, Head]:
    """The metadata, level head and ASP head saved in `folder`; a folder that is not a whole
    fusion model (no or bad fusion.json, a head file missing or unreadable) is a
    ModelMismatchError saying what."""
    meta = read_meta(Path(folder))
    # Worked out only for a refusal: it may read the vision model's folder.
    again = partial(_build_again, Path(folder), meta)
    level, asp = (_load_head(kind, path, again) for kind, path in _head_files(meta, Path(folder)))
    return meta, level, asp


def read_meta(folder: Path) -> FusionMeta:
    """The fusion.json in `folder`, checked (a ModelMismatchError saying what is wrong)."""
    path = folder / META_FILE
    if not path.exists():
        raise _not_a_model(folder)
    try:
        text = read_text(path, ModelMismatchError)
    except ModelMismatchError as exc:
        raise ModelMismatchError(f"{exc.message}{_again(folder, None)}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelMismatchError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
            f"{_again(folder, None)}"
        ) from None
    if not isinstance(data, dict):
        raise ModelMismatchError(
            f"{path}: not a fusion model's metadata (a JSON object){_again(folder, None)}"
        )
    if data.get("format") != ARTIFACT_FORMAT:
        raise ModelMismatchError(
            f"{path}: format {data.get('format')} is not supported{_again(folder, data)}"
        )
    again = partial(_again, folder, data)  # worded only for a refusal: it may read others
    known = {f.name: f for f in fields(FusionMeta)}
    missing = [
        name
        for name, f in known.items()
        if f.default is MISSING and f.default_factory is MISSING and name not in data
    ]
    unknown = sorted(set(data) - set(known))
    if missing or unknown:
        what = [f"key(s) {', '.join(missing)} missing"] if missing else []
        what += [f"unknown key(s) {', '.join(unknown)}"] if unknown else []
        raise ModelMismatchError(
            f"{path}: not a fusion model's metadata: {'; '.join(what)}{again()}"
        )
    learner, objective = data["learner"], data.get("level_objective", "multiclass")
    try:
        level_head_class(learner, objective)  # KeyError: no head for this pair
        recognised = learner in _ASP_HEADS
    except (KeyError, TypeError):
        recognised = False
    if not recognised:
        raise ModelMismatchError(
            f"{path}: learner {learner!r} with level objective {objective!r} is not one this "
            f"version knows{again()}"
        )
    problems = _value_problems(data)
    if problems:
        raise ModelMismatchError(f"{path}: {'; '.join(problems)}{again()}")
    return FusionMeta(**{**data, "platt": tuple(data["platt"])})


def _value_problems(data: Mapping[str, Any]) -> list[str]:
    """What in fusion.json predicting cannot use: a value of another type, or a level
    decoding this version does not know (it would be decoded another way without a word)."""
    decodings = get_args(FusionRecipe.model_fields["level_decoding"].annotation)
    platt, temperature = data["platt"], data["temperature"]
    problems = []
    if data["level_decoding"] not in decodings:
        problems.append(
            f"level decoding {data['level_decoding']!r} is not one this version knows "
            f"({', '.join(decodings)})"
        )
    if not (is_finite_number(temperature) and temperature > 0):
        problems.append("'temperature' is not a positive number")
    if not (isinstance(platt, list) and len(platt) == 2 and all(map(is_finite_number, platt))):
        problems.append("'platt' is not a pair of numbers")
    levels, features = data["levels"], data["features"]
    if not (isinstance(levels, list) and levels and all(_is_whole(v) for v in levels)):
        problems.append("'levels' is not a list of whole numbers")
    if not (isinstance(features, list) and all(isinstance(f, str) for f in features)):
        problems.append("'features' is not a list of names")
    elif not (isinstance(data["background"], dict) and set(features) <= set(data["background"])):
        problems.append("'background' does not hold a value for every feature")
    return problems


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _not_a_model(folder: Path) -> ModelMismatchError:
    """The error for a `folder` without fusion.json: missing, a file, the folder that holds
    the model folders (naming them), or some other folder."""
    what = (
        "a fusion model folder holds fusion.json and the model's head files, as `shanyraq "
        "welfare train` writes one per model under its --out, e.g. artifacts/welfare/lgbm_tabular"
    )
    if not folder.exists():
        return ModelMismatchError(f"{folder}: no such folder; {what}")
    if not folder.is_dir():
        return ModelMismatchError(f"{folder} is a file, not a folder; {what}")
    inside = model_folders(folder)
    if inside:
        return ModelMismatchError(
            f"{folder} holds fusion model folders rather than one model: give one of them "
            f"({', '.join(str(p) for p in inside)})"
        )
    return ModelMismatchError(
        f"{folder}: no {META_FILE}, so it is not a fusion model folder ({what}); train one "
        "with `shanyraq welfare train`"
    )


def _load_head(kind: Any, path: Path, again: Callable[[], str] = lambda: _RETRAIN) -> Head:
    """The head of `kind` in `path`; a ModelMismatchError saying why it cannot be, then what to
    do (`again()`)."""
    if not path.is_file():
        raise ModelMismatchError(
            f"{path.parent}: {path.name} is missing, so the model folder is incomplete{again()}"
        )
    if kind is LightGBMHead and _cut_short(path):
        # LightGBM aborts or crashes the whole process on such a text rather than raising.
        raise ModelMismatchError(
            f"{path}: cut short (it does not end as LightGBM ends a model; a copy or write "
            f"stopped part-way){again()}"
        )
    try:
        return kind.load(path)
    except Exception as exc:  # LightGBM, joblib (pickle) or JSON: each raises its own kinds
        raise ModelMismatchError(
            f"{path}: cannot be read as a {kind.__name__} ({type(exc).__name__}: {exc}){again()}"
        ) from None


def _cut_short(path: Path) -> bool:
    """Whether a LightGBM model text lacks its ending: `model_to_string` begins every model
    with a line `tree` and ends it with its trees, its parameters and a last line
    `pandas_categorical:...`. Another text is left to LightGBM, which refuses it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False  # loading it says why it cannot be read
    if not text.startswith("tree\n"):
        return False
    last = text.rstrip("\n").rpartition("\n")[2]
    whole = "\nend of trees\n" in text and "\nend of parameters\n" in text
    return not (whole and text.endswith("\n") and last.startswith("pandas_categorical:"))


def check_destination(folder: Path) -> None:
    """Refuse a `folder` a model may not be saved to (OutputExistsError naming it): allowed are
    a path that does not exist yet, an empty folder, or a fusion model's folder (a fusion.json
    and no entry but model files, MODEL_FILES), since saving replaces the folder whole; a file,
    a symbolic link or any other folder is refused before anything is written."""
    why = not_replaceable(folder, marker=META_FILE, allowed=MODEL_FILES)
    if why:
        raise OutputExistsError(
            f"{folder} exists and is not a fusion model folder ({why}); saving a model "
            "replaces its folder whole, so it does not write there: choose another folder "
            "(--out), or move it away if it should be replaced"
        )


def save_models(models: Mapping[Path, FusionModel]) -> None:
    """Save each model to its folder, all or none: every folder is checked first
    (`check_destination`), every model is written whole in a staging folder beside its own,
    and only then are the staged folders swapped in, every one or none (`write_all`). A
    failure while writing or swapping leaves every folder as it was, and no staging folder
    behind. Each model saved is then told its folder (`FusionModel.folder`), where a refusal's
    command builds it again."""
    for folder in models:
        check_destination(Path(folder))
    write_all(models, _write)
    for folder, model in models.items():
        model.folder = Path(folder)


def _write(model: FusionModel, folder: Path) -> None:
    """Write the model's files into `folder`, an empty folder; a level head saved as JSON
    records beside its boosters which command built the model, and its name (`builder_note`)."""
    level, asp = _head_files(model.meta, folder)
    if isinstance(model.level_head, CumulativeLightGBMHead):
        model.level_head.save(level[1], notes=builder_note(model.meta))
    else:  # a LightGBM model text or a pickle: no room for a note older code would read alike
        model.level_head.save(level[1])
    model.asp_head.save(asp[1])
    model.meta.head_sha256 = {path.name: sha256_file(path) for path in (level[1], asp[1])}
    (folder / META_FILE).write_text(json.dumps(asdict(model.meta), indent=2), encoding="utf-8")
