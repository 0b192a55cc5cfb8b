"""What a run folder holds, read for the training tests: its metrics log without the columns
that change from run to run, a finished run's files, and a snapshot of a folder's bytes."""

from __future__ import annotations

import csv
from pathlib import Path

from training.build import ARTIFACT_DIR, EVALUATION_DIR
from training.run_folder import BEST, LAST, METRICS_CSV, RUN_JSON

VOLATILE = {"seconds", "images_per_second"}


def metrics_rows(run: Path) -> list[dict[str, str]]:
    with (run / METRICS_CSV).open() as handle:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in csv.DictReader(handle)]


# What a finished run folder holds; a refused run must leave every byte of it.
OLD_RUN = {
    METRICS_CSV: "epoch,train_loss\n1,0.5\n2,0.4\n",
    LAST: "old last.pt",
    BEST: "old best.pt",
    RUN_JSON: '{"old": true}',
    f"{ARTIFACT_DIR}/model.json": '{"model_version": "old"}',
    f"{ARTIFACT_DIR}/MODEL_CARD.md": "# old card",
    f"{EVALUATION_DIR}/report.md": "# old report",
}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
