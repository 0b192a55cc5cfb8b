"""ONNX Runtime session set-up for the scoring engine: session options, the execution provider
plan (vision.providers) and, on TensorRT, batch profiles and a per-model engine cache folder.

`open_session` opens the artifact's model.onnx (model_fp16.onnx on CUDA with fp16) with the
best usable provider; vision.engine scores through the session it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vision.artifact import FP16_ONNX_FILE, INPUT_NAME, ONNX_FILE, open_onnx
from vision.providers import ProviderPlan, plan_providers

if TYPE_CHECKING:
    from vision.engine import RuntimeConfig


def session_options(runtime: RuntimeConfig) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = runtime.intra_op_threads
    options.inter_op_num_threads = runtime.inter_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = runtime.log_severity
    spinning = "1" if runtime.allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
    return options


def open_session(
    folder: Path, runtime: RuntimeConfig, *, input_size: int, max_batch: int
) -> tuple[Any, ProviderPlan]:
    """A session on the model in `folder`, and the provider plan it was opened with."""
    import onnxruntime as ort

    ort.set_default_logger_severity(runtime.log_severity)
    # No trt_cache_dir: the engine cache is set up below, per model and batch profile.
    plan = plan_providers(runtime.providers, device_id=runtime.device_id, fp16=runtime.fp16)
    path = folder / ONNX_FILE
    if plan.name == "cuda" and runtime.fp16 and (folder / FP16_ONNX_FILE).exists():
        path = folder / FP16_ONNX_FILE
    providers = list(plan.providers)
    if plan.name == "tensorrt":
        from vision.trt_cache import DEFAULT_MAX_BATCH, profile_options, tensorrt_options_for

        largest = max(DEFAULT_MAX_BATCH, max_batch)
        if runtime.trt_cache_dir is not None:
            # ONNX Runtime names a cached engine by the graph's file name and tensor names, not
            # its weights: in one shared folder, another artifact's model.onnx of the same
            # backbone would load this one's engine (its weights). One folder per model bytes
            # and GPU, as vision.gpu does, with explicit batch profiles.
            trt_options = tensorrt_options_for(
                path, runtime.trt_cache_dir, input_name=INPUT_NAME, input_size=input_size,
                device_id=runtime.device_id, fp16=runtime.fp16, max_batch=largest,
                keep_unused_days=runtime.trt_cache_keep_unused_days,
            )  # fmt: skip
        else:  # no cache: the engine is built at each start, but once, for every batch size
            trt_options = {
                **providers[0][1],
                **profile_options(input_name=INPUT_NAME, input_size=input_size, max_batch=largest),
            }
        providers[0] = (providers[0][0], trt_options)
    names = [name for name, _ in providers]
    options = [opts for _, opts in providers]
    session = open_onnx(
        path, sess_options=session_options(runtime), providers=names, provider_options=options
    )
    return session, plan
