"""Head post-processing: probabilities sum to one, CORAL decodes in order, temperature softens."""

from __future__ import annotations

import numpy as np

from vision.artifact import Preprocessing
from vision.heads import coral_to_probs, softmax
from vision.preprocess import to_batch, to_input


def test_coral_hand_computed():
    # P(>1)=0.9, P(>2)=0.5, P(>3)=0.2, P(>4)=0.1 -> grades 0.1, 0.4, 0.3, 0.1, 0.1
    logits = np.log(np.array([[0.9, 0.5, 0.2, 0.1]]) / (1 - np.array([[0.9, 0.5, 0.2, 0.1]])))
    assert np.allclose(coral_to_probs(logits), [[0.1, 0.4, 0.3, 0.1, 0.1]])


def test_coral_never_negative_when_unordered():
    probs = coral_to_probs(np.array([[-2.0, 3.0, -1.0, 2.0]]))
    assert (probs >= 0).all() and np.isclose(probs.sum(), 1.0)


def test_temperature_softens():
    logits = np.array([[4.0, 1.0, 0.0]])
    assert softmax(logits, 2.0).max() < softmax(logits, 1.0).max()


def test_preprocess_shapes_and_normalisation():
    spec = Preprocessing(size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    grey = np.full((48, 64, 3), 255, dtype=np.uint8)
    x = to_input(grey, spec)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    assert np.allclose(x, 1.0)
    for policy in ("shorter_side_crop", "letterbox"):
        spec2 = spec.model_copy(update={"resize": policy})
        assert to_batch([grey, grey], spec2).shape == (2, 3, 32, 32)


def test_offsets_shift_coral_thresholds_after_temperature():
    # logit 0 at every threshold; T=2 leaves it 0, offsets then set P(>k) to 0.9, 0.5, 0.2, 0.1.
    offsets = np.log(np.array([0.9, 0.5, 0.2, 0.1]) / (1 - np.array([0.9, 0.5, 0.2, 0.1])))
    probs = coral_to_probs(np.zeros((1, 4)), 2.0, offsets)
    assert np.allclose(probs, [[0.1, 0.4, 0.3, 0.1, 0.1]])


def test_head_probs_applies_offsets_only_when_calibrated(taxonomy):
    from vision.artifact import Biases, Labels, ModelArtifact, Temperatures
    from vision.heads import head_probs

    k = len(taxonomy.room_names)
    artifact = ModelArtifact(
        model_version="t", backbone="t", taxonomy_version=taxonomy.version,
        taxonomy_fingerprint=taxonomy.fingerprint(),
        labels=Labels(room=taxonomy.room_names, condition=taxonomy.condition_values,
                      signs=taxonomy.sign_names),
        condition_formulation="coral",
        preprocessing=Preprocessing(size=8, mean=(0, 0, 0), std=(1, 1, 1)),
        temperatures=Temperatures(room=2.0), biases=Biases(room=[3.0] + [0.0] * (k - 1)),
        embedding_dim=4,
    )  # fmt: skip
    room = np.zeros((1, k))
    signs = np.zeros((1, len(taxonomy.sign_names)))
    calibrated = head_probs(artifact, room, np.zeros((1, 4)), signs)[0]
    raw = head_probs(artifact, room, np.zeros((1, 4)), signs, calibrated=False)[0]
    assert np.allclose(raw, 1 / k)
    assert np.isclose(calibrated[0, 0], np.exp(3.0) / (np.exp(3.0) + k - 1))
