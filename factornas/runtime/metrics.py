"""``metrics.jsonl``: one JSON object per epoch, appended and flushed as it happens."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All complete records of a metrics file (a torn last line is ignored)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


class MetricsLog:
    """Appends epoch records; on resume, drops records past the checkpointed epoch so the file
    never holds an epoch twice."""

    def __init__(self, path: str | Path, keep_epochs_below: int | None = None) -> None:
        self.path = Path(path)
        if keep_epochs_below is not None:
            kept = [r for r in read_metrics(self.path) if r.get("epoch", 0) < keep_epochs_below]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
