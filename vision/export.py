"""ONNX export of a trained model into the artifact folder, refused unless ONNX Runtime agrees.

The graph takes "pixels" (N x 3 x S x S, float32, dynamic batch) and returns room_logits,
condition_logits, signs_logits and embedding, in that order. Before anything is written in
place, ONNX Runtime (CPU) and torch must agree within `tolerance` on every head's calibrated
probabilities for a batch of real photos (ONNX Runtime scoring them as one batch and one at a
time), and neither may give a NaN or infinite output (vision.export_parity); a failed export
leaves any previous artifact intact.

Where the artifact goes (`check_destination`): a path that does not exist yet, an empty
folder, or a folder that is already a model artifact (a model.json `read_artifact` accepts, and
nothing but artifact files beside it), which is then replaced whole and at once. Anything else
(a file, a link, any other folder, such as a run folder or a dataset) is refused before
anything is written. The new artifact is built in a private staging folder beside the
destination (`NAME.partial-XXXXXXXX`), removed on failure; no other path is deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shanyraq import provenance
from shanyraq.atomic import atomic_folder, not_replaceable
from shanyraq.errors import ModelMismatchError, ShanyraqError
from shanyraq.taxonomy import Taxonomy
from vision.artifact import (
    ARTIFACT_FILES,
    CARD_FILE,
    INPUT_NAME,
    META_FILE,
    ONNX_FILE,
    TORCH_FILE,
    Biases,
    Labels,
    ModelArtifact,
    Preprocessing,
    Temperatures,
    read_artifact,
    write_artifact,
)
from vision.export_parity import (
    OUTPUT_NAMES,
    PARITY_TOLERANCE,
    ExportNonFiniteError,
    ExportParityError,
    _Exportable,
    check_parity,
    passable,
)
from vision.model import ShanyraqNet, save_model

logger = logging.getLogger(__name__)

# The exporters export_onnx may write the graph with (model.json exported_with.onnx_exporter).
TORCHSCRIPT = "torchscript"
TORCH_EXPORT = "torch.export"


class ExportDestinationError(ShanyraqError):
    """The export's destination is not a path an artifact may be written to or replace."""

    code = "export_destination_invalid"


@dataclass(frozen=True)
class ExportRequest:
    """What goes into model.json besides the weights."""

    variant: str
    preprocessing: Preprocessing
    model_version: str
    temperatures: Temperatures = field(default_factory=Temperatures)
    biases: Biases = field(default_factory=Biases)
    metrics: dict[str, Any] | None = None
    training_data_sha256: str = ""
    training_config: dict[str, Any] | None = None
    # run.json "augmentation" (training.run_folder.augmentation_record): the pipeline's contents
    # and sha256, kept in model.json's training_config beside the recipe that names it.
    augmentation: dict[str, Any] | None = None
    # The code that trained the model (run.json's), model.json's code_version; the exporting
    # code's then goes into exported_with. None: the exporting code's is the code_version.
    trained_with: str | None = None


def export_onnx(model: ShanyraqNet, path: Path, *, size: int, torchscript: bool = True) -> str:
    """Write the ONNX graph with a dynamic batch axis; returns the exporter that wrote it.

    torch's TorchScript-based exporter first (unless `torchscript` is False): 1.6 s for the
    demo model where the torch.export-based one takes 15 s (2 CPU cores, the same graph speed
    in ONNX Runtime either way). torch marks it deprecated; where it is gone from the installed
    torch or cannot write the model, the torch.export-based exporter writes the graph instead
    (and `export_artifact` asks for that one where ONNX Runtime disagrees with torch on the
    first's graph). model.json's exported_with names the exporter of the graph written.
    """
    wrapped = _Exportable(model).eval()
    example = torch.zeros(2, 3, size, size)
    # The exporters print their progress to stdout; keep the CLI's output to what it says.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            if torchscript:
                _torchscript_export(wrapped, example, path)
                return TORCHSCRIPT
        except Exception as error:  # gone from this torch, or a model it cannot write
            logger.warning(
                "the TorchScript-based ONNX exporter failed (%s: %s); exporting with the "
                "torch.export-based one instead",
                type(error).__name__,
                error,
            )
        batch = torch.export.Dim("batch", min=1, max=4096)
        _export(wrapped, example, path, batch)
        return TORCH_EXPORT


def _torchscript_export(wrapped: nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        # Its deprecation notice is answered above (the fallback), not news for the user.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        _onnx_export(wrapped, example, path, dynamic_axes={INPUT_NAME: {0: "batch"}}, dynamo=False)


def _export(wrapped: nn.Module, example: torch.Tensor, path: Path, batch: Any) -> None:
    _onnx_export(
        wrapped, example, path, dynamic_shapes={INPUT_NAME: {0: batch}}, dynamo=True,
        external_data=False, verbose=False,
    )  # fmt: skip


def _onnx_export(wrapped: nn.Module, example: torch.Tensor, path: Path, **how: Any) -> None:
    torch.onnx.export(
        wrapped, (example,), str(path), input_names=[INPUT_NAME], output_names=OUTPUT_NAMES, **how
    )


def weights_digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def exported_with(onnx_path: Path) -> dict[str, str | int]:
    """model.json exported_with: the versions that wrote and checked the graph (torch, onnx,
    the ONNX Runtime of the parity check) and the graph's opset, read from the file itself."""
    import onnx
    import onnxruntime as ort

    graph = onnx.load(str(onnx_path), load_external_data=False)
    opset = next((o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")), 0)
    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "onnx_opset": int(opset),
        "onnx_ir_version": int(graph.ir_version),
    }


def _training_config(request: ExportRequest, *, timm_version: str) -> dict[str, Any]:
    """model.json training_config: the recipe, the timm version and, when the run recorded
    it, the augmentation pipeline's contents (older runs name it only, in the recipe)."""
    config = {**(request.training_config or {}), "timm_version": timm_version}
    if request.augmentation is not None:
        config["augmentation"] = request.augmentation
    return config


def build_metadata(
    model: ShanyraqNet, request: ExportRequest, *, taxonomy: Taxonomy
) -> ModelArtifact:
    import timm

    backbone_name = getattr(model.backbone, "default_cfg", {}).get("architecture", "")
    return ModelArtifact(
        model_version=request.model_version,
        backbone=backbone_name or type(model.backbone).__name__,
        taxonomy_version=taxonomy.version,
        taxonomy_fingerprint=taxonomy.fingerprint(),
        labels=Labels.of(taxonomy),
        condition_formulation=model.condition_formulation,
        preprocessing=request.preprocessing,
        temperatures=request.temperatures,
        biases=request.biases,
        embedding_dim=model.embedding_dim,
        metrics=request.metrics or {},
        training_data_sha256=request.training_data_sha256,
        training_config=_training_config(request, timm_version=timm.__version__),
        code_version=request.trained_with or provenance.code_version(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def export_artifact(
    model: ShanyraqNet,
    out_dir: Path,
    *,
    request: ExportRequest,
    taxonomy: Taxonomy,
    parity_images: list[np.ndarray],
    tolerance: float = PARITY_TOLERANCE,
    card: str | None = None,
    complete: Callable[[Path, ModelArtifact], ModelArtifact] | None = None,
) -> ModelArtifact:
    """Write out_dir/{model.onnx, model.pt, model.json} (and MODEL_CARD.md, the text `card`,
    when given: a re-export of the model a build described); replaces out_dir only on success,
    each file written once and whole, so no crash leaves a model.json that loads but lacks
    what the export was to put in it.

    `complete(folder, artifact)`, when given, runs once the graph and weights are in the
    staging `folder` and before model.json is written; the artifact it returns is the one
    written and returned (a build measures the graph there and adds its figures and card).

    ExportDestinationError, before anything is written, when out_dir may not take an artifact
    (see `check_destination`).
    """
    out_dir = Path(os.path.abspath(out_dir))  # "." and ".." have no name to stage beside
    check_destination(out_dir)
    model = model.cpu().float().eval()  # the graph's contract is float32 pixels in
    artifact = build_metadata(model, request, taxonomy=taxonomy)
    with atomic_folder(out_dir) as staging:  # replaces out_dir only when the block ends well
        exporter = _checked_graph(model, staging / ONNX_FILE, artifact, parity_images, tolerance)
        tools = {**exported_with(staging / ONNX_FILE), "onnx_exporter": exporter}
        if request.trained_with is not None:  # the code_version is the training code's
            tools["shanyraq"] = provenance.code_version()
        artifact = artifact.model_copy(update={"exported_with": tools})
        save_model(
            model,
            staging / TORCH_FILE,
            variant=request.variant,
            preprocessing=request.preprocessing,
        )
        if card is not None:
            (staging / CARD_FILE).write_text(card, encoding="utf-8")
        if complete is not None:
            artifact = complete(staging, artifact)
        write_artifact(staging, artifact)
        check_destination(out_dir)  # again: the export took a while, and the path may have changed
    logger.info("model artifact %s written to %s", artifact.model_version, out_dir)
    return artifact


def _checked_graph(
    model: ShanyraqNet,
    path: Path,
    artifact: ModelArtifact,
    parity_images: list[np.ndarray],
    tolerance: float,
) -> str:
    """Write the graph at `path` and check its parity; returns the exporter whose graph passed.

    Where ONNX Runtime disagrees with torch on the TorchScript-based exporter's graph, the
    torch.export-based exporter writes it again and its graph is checked (its refusal is the
    one raised). Outputs that are NaN or infinite are the model's fault, whichever exporter:
    refused at once, as is a check no graph could pass."""
    size = artifact.preprocessing.size
    exporter = export_onnx(model, path, size=size)
    try:
        check_parity(model, path, artifact, parity_images, tolerance=tolerance)
    except ExportNonFiniteError:
        raise
    except ExportParityError as disagreement:
        if exporter != TORCHSCRIPT or not passable(parity_images, tolerance):
            raise
        logger.warning(
            "ONNX Runtime disagrees with torch on the TorchScript-based exporter's graph (%s); "
            "exporting with the torch.export-based one instead",
            disagreement.message,
        )
        exporter = export_onnx(model, path, size=size, torchscript=False)
        check_parity(model, path, artifact, parity_images, tolerance=tolerance)
    return exporter


def check_destination(out_dir: Path) -> None:
    """Refuse an `out_dir` an export may not write or replace (ExportDestinationError).

    Allowed: a path that does not exist yet (below a folder, or a path of folders to create),
    an empty folder, or a model artifact folder: a model.json `read_artifact` accepts and no
    entry but artifact files (vision.artifact.ARTIFACT_FILES), since the export replaces the
    folder whole.
    """
    retry = "choose another destination (export --out), or move it away if it should be replaced"
    if out_dir.is_symlink():
        raise ExportDestinationError(f"{out_dir} is a symbolic link; give the real path")
    if not out_dir.exists():
        above = next(p for p in out_dir.parents if p.exists())
        if not above.is_dir():
            raise ExportDestinationError(f"{above} is a file, so {out_dir} cannot be made")
        return
    if not out_dir.is_dir():
        raise ExportDestinationError(
            f"{out_dir} is a file, not a model artifact folder, and an export does not replace "
            f"it: {retry}"
        )
    why = not_replaceable(out_dir, marker=META_FILE, allowed=ARTIFACT_FILES)
    if why is None and any(out_dir.iterdir()):
        try:
            read_artifact(out_dir)
        except ModelMismatchError:
            why = f"its {META_FILE} is not one this code reads"
    if why:
        raise ExportDestinationError(
            f"{out_dir} exists and is not a model artifact folder ({why}); an export replaces "
            f"its destination whole, so it does not write there: {retry}"
        )
