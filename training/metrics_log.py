"""The per-epoch metrics log: one CSV row per epoch, appended (a resumed run continues it)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from shanyraq.atomic import atomic_file
from shanyraq.errors import ShanyraqError, read_text

_FIX = (
    "; repair that line, or move the file away to resume without the earlier epochs' rows "
    "(the checkpoint is not changed)"
)


class MetricsLogError(ShanyraqError):
    """A run's metrics.csv cannot be read as the log a run writes (one row per epoch)."""

    code = "metrics_log_invalid"


class MetricsLog:
    """Appends rows to a CSV file. The header is the first row's columns; a later row with a
    column the header lacks (a run resumed by a version that logs more) adds it at the end,
    the file rewritten whole with that column empty in the earlier rows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, row: dict[str, Any]) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        if new:
            fields = list(row)
        else:
            with self.path.open(newline="", encoding="utf-8") as handle:
                fields = next(csv.reader(handle))
            if added := [k for k in row if k not in fields]:
                fields += added
                self._rewrite(self.read(), fields)
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _cell(row.get(k, "")) for k in fields})

    def read(self) -> list[dict[str, str]]:
        """The rows, each checked: a file that is not a log a run writes is a MetricsLogError
        naming it and the line."""
        if not self.path.exists():
            return []
        text = read_text(self.path, MetricsLogError, _FIX)
        if not text:
            return []  # as a new log: append writes the header
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # as the log is written
        try:
            header = next(reader, [])
            if "epoch" not in header:
                raise MetricsLogError(
                    f"{self.path}: line 1 is not the log's header (it has no 'epoch' column){_FIX}"
                )
            return [self._row(header, cells, reader.line_num) for cells in reader if cells]
        except csv.Error as exc:
            raise MetricsLogError(f"{self.path}: line {reader.line_num}: {exc}{_FIX}") from None

    def _row(self, header: list[str], cells: list[str], line: int) -> dict[str, str]:
        if len(cells) != len(header):
            raise MetricsLogError(
                f"{self.path}: line {line} has {len(cells)} values, the header {len(header)}{_FIX}"
            )
        row = dict(zip(header, cells, strict=True))
        if not row["epoch"].isdecimal():
            raise MetricsLogError(
                f"{self.path}: line {line}: epoch {row['epoch']!r} is not a whole number{_FIX}"
            )
        return row

    def truncate_after(self, epoch: int) -> None:
        """Drop rows past `epoch` (a run resumed from an earlier checkpoint rewrites them);
        the file is checked whole first and replaced at once."""
        rows = [r for r in self.read() if int(r["epoch"]) <= epoch]
        if not rows:
            self.path.unlink(missing_ok=True)
            return
        self._rewrite(rows, list(rows[0]))

    def _rewrite(self, rows: list[dict[str, str]], fields: list[str]) -> None:
        """Replace the file at once with `rows` under the header `fields` (missing cells empty)."""
        with atomic_file(self.path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value
