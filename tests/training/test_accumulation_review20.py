"""Gradient accumulation, review 20: each optimizer step takes the mean gradient of the
micro-batches it sums, the last step of an epoch (fewer micro-batches when the epoch's count
is not a multiple) included: it was divided by the full accumulation count, shrunk by k/n."""

from __future__ import annotations

import pytest

from training.train import group_size


def _groups(steps: int, accumulation: int) -> list[list[int]]:
    """The micro-batches each optimizer step sums, as train_one_epoch steps."""
    groups, current = [], []
    for step in range(1, steps + 1):
        current.append(step)
        if step % accumulation == 0 or step == steps:
            groups.append(current)
            current = []
    return groups


@pytest.mark.parametrize(
    ("steps", "accumulation"), [(12, 5), (10, 5), (3, 1), (2, 5), (1, 4), (7, 3), (9, 2)]
)
def test_each_micro_batch_is_divided_by_the_size_of_its_group(steps, accumulation):
    for group in _groups(steps, accumulation):
        assert [group_size(step, steps, accumulation) for step in group] == [len(group)] * len(
            group
        )


def test_a_short_last_group_takes_a_mean_not_a_shrunk_sum():
    # 12 micro-batches, 5 to a step: the epoch's last step sums 2 of them.
    assert group_size(11, 12, 5) == 2 and group_size(12, 12, 5) == 2
    assert group_size(10, 12, 5) == 5
