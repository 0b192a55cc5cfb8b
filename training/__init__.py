"""Training: manifests to batches, augmentation, the training loop, evaluation, synthetic data."""
