"""The per-epoch metrics log: one CSV row per epoch, appended (a resumed run continues it)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class MetricsLog:
    """Appends rows to a CSV file; the header is fixed by the first row ever written."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, row: dict[str, Any]) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        if new:
            fields = list(row)
        else:
            with self.path.open(newline="", encoding="utf-8") as handle:
                fields = next(csv.reader(handle))
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _cell(row.get(k, "")) for k in fields})

    def read(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def truncate_after(self, epoch: int) -> None:
        """Drop rows past `epoch` (a run resumed from an earlier checkpoint rewrites them)."""
        rows = [r for r in self.read() if int(r["epoch"]) <= epoch]
        if not rows:
            self.path.unlink(missing_ok=True)
            return
        self.path.unlink()
        for r in rows:
            self.append(r)


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value
