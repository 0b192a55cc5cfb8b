"""Review 22 of the model: a pretrained weights file that does not load is refused in words,
never skipped in silence, and no path of it downloads anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from shanyraq.errors import ConfigError
from vision.model import create_model


@pytest.fixture(scope="module")
def source() -> Any:
    """A stock timm checkpoint of the tiny variant's backbone, 1000-class head and all."""
    import timm

    model: Any = timm.create_model("test_efficientnet", num_classes=1000)
    with torch.no_grad():
        model.conv_stem.weight.normal_(0, 1)
    return model


def _stem(model: Any) -> torch.Tensor:
    return model.backbone.conv_stem.weight


def _save(obj: Any, path: Path) -> Path:
    torch.save(obj, path)
    return path


# 1. A checkpoint whose names do not fit trained from scratch, announced only by a timm log line.


@pytest.mark.parametrize(
    "wrap",
    [
        # a Shanyraq model.pt: its state dict's keys begin with "backbone."
        lambda sd: {"format": 1, "state_dict": {f"backbone.{k}": v for k, v in sd.items()}},
        lambda sd: {f"encoder.{k}": v for k, v in sd.items()},
        lambda sd: {k: v for i, (k, v) in enumerate(sd.items()) if i % 2},  # half of it
    ],
    ids=["shanyraq-model-pt", "other-prefix", "half-the-weights"],
)
def test_a_checkpoint_under_other_names_is_refused(taxonomy, tmp_path, source, wrap):
    path = _save(wrap(source.state_dict()), tmp_path / "backbone.pth")
    with pytest.raises(ConfigError, match="does not fit backbone test_efficientnet") as info:
        create_model("shanyraq_test", taxonomy=taxonomy, pretrained_file=path)
    assert str(path) in info.value.message and "conv_stem.weight" in info.value.message


@pytest.mark.parametrize(
    "content", [{}, {"weights": "elsewhere"}], ids=["empty-dict", "unknown-wrapper"]
)
def test_a_checkpoint_without_tensors_is_refused_and_nothing_downloads(
    taxonomy, tmp_path, monkeypatch, content
):
    import timm.models._builder as builder

    def no_download(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a download was attempted")

    for name in ("load_state_dict_from_url", "load_state_dict_from_hf", "download_cached_file"):
        monkeypatch.setattr(builder, name, no_download)
    path = _save(content, tmp_path / "backbone.pth")
    with pytest.raises(ConfigError, match="holds no weight tensors"):
        create_model("shanyraq_test", taxonomy=taxonomy, pretrained_file=path)


# 2. A file that cannot be read, or of another architecture: torch's raw error, not the file's.


def _truncated(path: Path, source: Any) -> None:
    torch.save(source.state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "write",
    [
        _truncated,
        lambda path, source: path.write_bytes(b""),
        lambda path, source: path.write_text("not weights"),
        lambda path, source: torch.save([1, 2, 3], path),
    ],
    ids=["truncated", "empty-file", "text", "a-list"],
)
def test_an_unreadable_weights_file_is_a_config_error_naming_it(taxonomy, tmp_path, source, write):
    path = tmp_path / "backbone.pth"
    write(path, source)
    with pytest.raises(ConfigError, match="cannot be read as a PyTorch or safetensors") as info:
        create_model("shanyraq_test", taxonomy=taxonomy, pretrained_file=path)
    assert str(path) in info.value.message


def test_weights_of_another_architecture_are_a_config_error(taxonomy, tmp_path):
    import timm

    other: Any = timm.create_model("test_resnet", num_classes=1000)
    path = _save(other.state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(ConfigError, match="does not fit backbone test_efficientnet") as info:
        create_model("shanyraq_test", taxonomy=taxonomy, pretrained_file=path)
    assert str(path) in info.value.message


# 3. What timm reads as a checkpoint still loads, whole, and leaves no copy behind.


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": sd},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
    ],
    ids=["state_dict", "model", "module-prefix"],
)
def test_wrapped_checkpoints_load_every_weight(taxonomy, tmp_path, source, wrap):
    path = _save(wrap(source.state_dict()), tmp_path / "backbone.pth")
    model = create_model("shanyraq_test", taxonomy=taxonomy, pretrained_file=path)
    assert torch.equal(_stem(model), source.conv_stem.weight)
    assert "state_dict" not in model.backbone.pretrained_cfg


def test_a_safetensors_file_with_a_head_of_other_size_loads(taxonomy, tmp_path, source):
    import timm
    from safetensors.torch import save_file

    ten: Any = timm.create_model("test_efficientnet", num_classes=10)
    weights = {k: v for k, v in source.state_dict().items() if not k.startswith("classifier")}
    ten.load_state_dict(weights, strict=False)
    path = tmp_path / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in ten.state_dict().items()}, str(path))
    model = create_model("shanyraq_test", taxonomy=taxonomy, pretrained_file=path)
    assert torch.equal(_stem(model), source.conv_stem.weight)
