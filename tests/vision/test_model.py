"""The model: every variant builds with taxonomy-sized heads; local pretrained weights load."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from shanyraq.errors import ConfigError
from vision.model import (
    create_model,
    get_variant,
    list_variants,
    load_model,
    model_preprocessing,
    save_model,
)


@pytest.mark.parametrize("formulation", ["coral", "softmax"])
def test_forward_backward_tiny(taxonomy, formulation):
    model = create_model("shanyraq_test", taxonomy=taxonomy, condition_formulation=formulation)
    out = model(torch.randn(3, 3, 32, 32))
    grades = taxonomy.head_size("condition")
    assert out.room.shape == (3, taxonomy.head_size("room"))
    assert out.condition.shape == (3, grades - 1 if formulation == "coral" else grades)
    assert out.signs.shape == (3, taxonomy.head_size("signs"))
    assert out.embedding.shape == (3, model.embedding_dim)
    (out.room.sum() + out.condition.sum() + out.signs.sum()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    stem: Any = model.backbone.conv_stem
    assert stem.weight.grad.abs().sum() > 0


def test_registry_names_and_unknown_variant():
    assert {"shanyraq_test", "shanyraq_mnv3_small"} <= set(list_variants())
    assert get_variant("shanyraq_mnv3_small").backbone == "mobilenetv3_small_100"
    with pytest.raises(ConfigError, match="unknown model variant"):
        get_variant("resnet9000")


def test_pretrained_from_local_file_with_head_mismatch(taxonomy, tmp_path):
    import timm

    # A stock timm checkpoint with its 1000-class classifier: the head does not fit ours.
    source: Any = timm.create_model("test_efficientnet", num_classes=1000)
    with torch.no_grad():
        source.conv_stem.weight.normal_(0, 1)
    path = tmp_path / "backbone.pth"
    torch.save(source.state_dict(), path)
    model = create_model("shanyraq_test", taxonomy=taxonomy, pretrained_file=path)
    stem: Any = model.backbone.conv_stem
    assert torch.equal(stem.weight, source.conv_stem.weight)
    assert model.room_head.out_features == taxonomy.head_size("room")


def test_missing_pretrained_file_is_a_clear_error(taxonomy, tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        create_model("shanyraq_test", taxonomy=taxonomy, pretrained_file=tmp_path / "nope.pth")


def test_save_load_roundtrip_keeps_outputs_and_preprocessing(taxonomy, tmp_path):
    model = create_model("shanyraq_test", taxonomy=taxonomy, condition_formulation="softmax")
    model.eval()
    spec = model_preprocessing(model, size=32)
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406))  # from timm's data config
    path = save_model(model, tmp_path / "model.pt", variant="shanyraq_test", preprocessing=spec)
    again, spec_again = load_model(tmp_path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x).condition, again(x).condition)
    assert spec_again == spec and again.condition_formulation == "softmax"
    assert path.name == "model.pt"


@pytest.mark.parametrize("variant", list_variants())
def test_every_registered_variant_builds_with_taxonomy_heads(taxonomy, variant):
    model = create_model(variant, taxonomy=taxonomy).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out.room.shape == (1, taxonomy.head_size("room"))
    assert out.embedding.shape == (1, model.embedding_dim)
    spec = model_preprocessing(model, size=get_variant(variant).input_size)
    assert spec.size == get_variant(variant).input_size and all(s > 0 for s in spec.std)
