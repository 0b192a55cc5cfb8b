"""The small recipe's data the engine-study tests train and evaluate on, and the study run
beside simulation-trained models on it."""

from __future__ import annotations

from welfare.real_evaluation import measure_real_scores
from welfare.train import train_models

N, SEED, SIZE = 48, 5, 64  # 48 families: 36 to train on, 12 to test; photos rendered at 64 px
# The models `welfare train` saves in the `pair` fixture (what `welfare evaluate-real --model`
# compares an engine model with).
PAIR = ["lgbm_fused", "lgbm_tabular"]
STUDIED = ["lgbm_tabular", "lgbm_fused"]  # the simulation-trained models the study measures


def measured_beside(tmp_path, vision_dir, config, engine_model):
    """The study of `engine_model` beside lgbm_tabular and lgbm_fused trained on `config`'s
    families (N, SEED) into tmp_path/models."""
    models = tmp_path / "models"
    train_models(models, n=N, seed=SEED, names=STUDIED, config=config, keep_meaningless=True)
    return measure_real_scores(
        models, vision_dir=vision_dir, n_families=2, size=SIZE, cache_dir=None, n_boot=10,
        config=config, engine_model=engine_model,
    )  # fmt: skip
