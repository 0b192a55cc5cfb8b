"""Review 16: loss weighting and masking, CORAL edges and smoothing, corruption contracts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training.corruptions import CORRUPTIONS, SEVERITIES
from training.data import IGNORE, Targets
from training.losses import LossSettings, MultiHeadLoss, coral_loss
from vision.model import ConditionFormulation, ModelOutput

ROOMS, GRADES, SIGNS, ND = 6, 5, 8, 5
# Mean 1 over the grades, as training.data.balanced_weights makes them: common grades get < 1.
GRADE_WEIGHTS = torch.tensor([2.0, 1.2, 0.4, 0.5, 0.9])
ROOM_WEIGHTS = torch.tensor([1.5, 0.5, 1.0, 0.8, 1.2, 1.0])


def _output(n: int, formulation: ConditionFormulation, *, seed: int = 0) -> ModelOutput:
    g = torch.Generator().manual_seed(seed)
    grades = GRADES - 1 if formulation == "coral" else GRADES

    def t(*shape: int) -> torch.Tensor:
        return (3 * torch.randn(*shape, generator=g)).requires_grad_(True)

    return ModelOutput(t(n, ROOMS), t(n, grades), t(n, SIGNS), t(n, 4))


def _weighted_loss(formulation: ConditionFormulation, **settings: float) -> MultiHeadLoss:
    return MultiHeadLoss(
        LossSettings(condition_formulation=formulation, not_dwelling_index=ND, **settings),
        room_class_weights=ROOM_WEIGHTS,
        grade_weights=GRADE_WEIGHTS,
    )


def _targets(rooms: list[int], grades: list[int], known: list[bool]) -> Targets:
    signs = (torch.arange(len(rooms) * SIGNS).view(len(rooms), SIGNS) % 3 == 0).float()
    return Targets(torch.tensor(rooms), torch.tensor(grades), signs, torch.tensor(known))


@pytest.mark.parametrize(
    "grades",
    [[2], [3], [2, 3], [2, IGNORE, 3], [0, 4, 2, 1], [IGNORE, 4]],
    ids=str,
)
def test_weighted_condition_loss_is_the_weighted_mean_torch_uses(grades):
    # Softmax without the ordinal term is plain cross-entropy, so its grade weighting must agree
    # with F.cross_entropy(weight=...), the convention the room head already follows: the sum of
    # weighted losses over the sum of the labelled rows' weights, whatever that sum is.
    n = len(grades)
    out = _output(n, "softmax")
    parts = _weighted_loss("softmax", ordinal_weight=0.0)(
        out, _targets([0] * n, grades, [True] * n)
    )
    expected = F.cross_entropy(
        out.condition, torch.tensor(grades), weight=GRADE_WEIGHTS, ignore_index=IGNORE
    )
    assert parts.condition.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("formulation", ["coral", "softmax"])
def test_one_labelled_example_loss_does_not_depend_on_its_grade_weight(formulation):
    # A weighted mean of one term is that term: a batch whose only labelled photo has a common
    # grade (weight < 1) must not have its condition loss scaled down by that weight.
    out = _output(3, formulation)
    targets = _targets([0, ND, 1], [2, IGNORE, IGNORE], [True, False, True])
    weighted = _weighted_loss(formulation)(out, targets).condition
    plain = MultiHeadLoss(LossSettings(condition_formulation=formulation, not_dwelling_index=ND))
    assert weighted.item() == pytest.approx(plain(out, targets).condition.item(), rel=1e-5)


@pytest.mark.parametrize("formulation", ["coral", "softmax"])
def test_masked_rows_do_not_change_any_head_loss(formulation):
    labelled = _targets([0, 2, 3], [1, 4, 2], [True, True, True])
    out = _output(3, formulation)
    # The same three photos plus two that condition and signs must ignore: a not_dwelling
    # photo (carrying stray labels) and an unlabelled one.
    extra = _output(5, formulation, seed=1)
    pairs = zip(out, extra, strict=True)
    padded_out = ModelOutput(*(torch.cat([a.detach(), b.detach()[3:]]) for a, b in pairs))
    padded = Targets(
        torch.tensor([0, 2, 3, ND, IGNORE]),
        torch.tensor([1, 4, 2, 3, IGNORE]),
        torch.cat([labelled.signs, torch.ones(2, SIGNS)]),
        torch.tensor([True, True, True, True, False]),
    )
    loss = _weighted_loss(formulation)
    small, big = loss(out, labelled), loss(padded_out, padded)
    assert big.condition.item() == pytest.approx(small.condition.item(), rel=1e-5)
    assert big.signs.item() == pytest.approx(small.signs.item(), rel=1e-5)


@pytest.mark.parametrize("formulation", ["coral", "softmax"])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_batch_of_only_not_dwelling_photos_trains_room_head_only(formulation, weighted):
    out = _output(3, formulation)
    targets = _targets([ND, ND, ND], [2, IGNORE, 0], [True, True, False])
    settings = LossSettings(
        condition_formulation=formulation, not_dwelling_index=ND, label_smoothing=0.1
    )
    loss = _weighted_loss(formulation, label_smoothing=0.1) if weighted else MultiHeadLoss(settings)
    parts = loss(out, targets)
    assert torch.isfinite(parts.total) and parts.total.item() > 0
    assert parts.condition.item() == 0.0 and parts.signs.item() == 0.0
    parts.total.backward()
    for head in (out.room, out.condition, out.signs):
        assert head.grad is not None and torch.isfinite(head.grad).all()
    assert out.room.grad is not None and out.room.grad.abs().sum() > 0
    assert out.condition.grad is not None and out.condition.grad.abs().sum() == 0
    assert out.signs.grad is not None and out.signs.grad.abs().sum() == 0


@pytest.mark.parametrize("formulation", ["coral", "softmax"])
def test_loss_does_not_depend_on_batch_order(formulation):
    out = _output(6, formulation)
    targets = _targets([0, 1, ND, 3, IGNORE, 2], [0, 4, IGNORE, 2, 3, IGNORE],
                       [True, False, False, True, True, True])  # fmt: skip
    loss = _weighted_loss(formulation, label_smoothing=0.1)
    order = torch.tensor([4, 2, 0, 5, 1, 3])
    shuffled_out = ModelOutput(*(t.detach()[order] for t in out))
    shuffled = Targets(*(t[order] for t in targets))  # type: ignore[index]
    a, b = loss(out, targets), loss(shuffled_out, shuffled)
    for x, y in zip(a, b, strict=True):
        assert x.item() == pytest.approx(y.item(), rel=1e-5)


def test_coral_edge_grades_are_all_below_and_all_above():
    # Grade 1 (index 0) is below every threshold, grade 5 (index 4) above every one.
    low, high = torch.full((1, GRADES - 1), -30.0), torch.full((1, GRADES - 1), 30.0)
    first, last = torch.tensor([0]), torch.tensor([GRADES - 1])
    assert coral_loss(low, first, smoothing=0.0).item() < 1e-9
    assert coral_loss(high, last, smoothing=0.0).item() < 1e-9
    assert coral_loss(high, first, smoothing=0.0).item() > 100
    assert coral_loss(low, last, smoothing=0.0).item() > 100


def test_coral_smoothing_pulls_targets_towards_one_half():
    # With smoothing s the loss is least where each threshold's probability is s/2 below the
    # grade and 1 - s/2 above it: the gradient there is zero, and pushing further costs more.
    s = 0.2
    grade = torch.tensor([2])
    p = torch.tensor([[1 - s / 2, 1 - s / 2, s / 2, s / 2]])
    logits = torch.log(p / (1 - p)).requires_grad_(True)
    coral_loss(logits, grade, smoothing=s).sum().backward()
    assert logits.grad is not None
    assert logits.grad.abs().max().item() < 1e-6
    sharper = torch.tensor([[8.0, 8.0, -8.0, -8.0]])
    assert coral_loss(sharper, grade, smoothing=s) > coral_loss(logits.detach(), grade, smoothing=s)
    assert math.isfinite(coral_loss(sharper, grade, smoothing=s).item())


def _photo(height: int = 144, width: int = 200) -> np.ndarray:
    """A synthetic room: a smooth wall gradient, a dark window frame, a noisy textured floor."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([60 + 120 * x / width, 80 + 100 * y / height, 150 - 60 * x / width], axis=-1)
    rgb[height // 5 : height // 2, width // 4 : width // 2] = 20
    rgb[height // 5 + 4 : height // 2 - 4, width // 4 + 4 : width // 2 - 4] = 235
    rgb[2 * height // 3 :] += rng.normal(0, 25, size=rgb[2 * height // 3 :].shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
@pytest.mark.parametrize("shape", [(144, 200), (97, 131)], ids=str)
def test_every_corruption_keeps_dtype_shape_and_is_repeatable(name, shape):
    photo = _photo(*shape)
    before = photo.copy()
    corrupt = CORRUPTIONS[name]
    for severity in SEVERITIES:
        out = corrupt(photo, severity, 11)
        assert out.dtype == np.uint8 and out.shape == photo.shape
        assert np.array_equal(corrupt(photo, severity, 11), out)
    assert np.array_equal(photo, before)  # the input is not modified in place


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_every_corruption_grows_with_severity_on_a_synthetic_photo(name):
    photo = _photo()
    distances = [
        np.abs(CORRUPTIONS[name](photo, s, 0).astype(np.float64) - photo).mean() for s in SEVERITIES
    ]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_noise_depends_on_the_seed():
    photo = _photo()
    assert not np.array_equal(CORRUPTIONS["noise"](photo, 2, 0), CORRUPTIONS["noise"](photo, 2, 1))


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
@pytest.mark.parametrize("severity", [0, -1, max(SEVERITIES) + 1])
def test_severity_outside_the_scale_is_refused(name, severity):
    # Severity 0 used to index the tuple at -1 and silently apply the worst severity.
    with pytest.raises(ValueError, match=r"severity"):
        CORRUPTIONS[name](_photo(), severity, 0)
