"""swap_entries(sync=True) flushes what it moves in before the moves and the target after
(used for model folders); without it nothing is flushed (a data set's thousands of photos)."""

from __future__ import annotations

import pytest

from shanyraq.atomic import swap_entries


@pytest.mark.parametrize("sync", [True, False])
def test_swapped_entries_are_on_disk_before_they_move_in_and_the_target_after(
    tmp_path, record_fsyncs, sync
):
    staging, target, aside = (tmp_path / name for name in ("staging", "target", "aside"))
    for folder in (staging, target, aside):
        folder.mkdir()
    (staging / "model.txt").write_text("weights")
    (staging / "eval").mkdir()
    (staging / "eval" / "metrics.json").write_text("{}")
    (target / "model.txt").write_text("old weights")
    synced = record_fsyncs(lambda: (target / "eval").exists())  # whether the new files were in
    swap_entries(staging, target, replaced=("model.txt",), aside=aside, sync=sync)

    assert (target / "model.txt").read_text() == "weights"
    assert (aside / "model.txt").read_text() == "old weights"
    if not sync:
        assert synced == []
        return
    before = {name for name, moved in synced if not moved}
    for name in ("model.txt", "eval/metrics.json", "eval", ""):
        assert str(staging / name).rstrip("/") in before, name
    assert (str(target), True) in synced
