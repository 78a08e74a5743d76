"""``metrics.jsonl``: one JSON object per epoch, appended and flushed as it happens.

The file is read, rewritten and appended to without following a symbolic link
(:mod:`factornas.files`): a link planted at its name is refused, its target left alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from factornas.errors import FactorNASError
from factornas.files import open_append, read_text_no_follow, write_atomic


class MetricsError(FactorNASError):
    """A metrics file holds a damaged record before its end."""


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a metrics file.

    A torn last line (no newline: the process died mid-write) is ignored, as it will be
    rewritten. Any other line that is not a JSON object is damage; it is reported rather than
    silently cutting the history (and, on resume, every later record) short.
    """
    path = Path(path)
    if not path.exists():
        return []
    text = read_text_no_follow(path)
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines.pop()  # torn mid-write
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or hostile JSON
            record = None
        if not isinstance(record, dict):
            raise MetricsError(
                f"{path} line {number} is damaged (not a JSON object): repair or delete that "
                "line, then rerun"
            )
        records.append(record)
    return records


class MetricsLog:
    """Appends epoch records; on resume, drops records past the checkpointed epoch so the file
    never holds an epoch twice."""

    def __init__(self, path: str | Path, keep_epochs_below: int | None = None) -> None:
        self.path = Path(path)
        if keep_epochs_below is not None:
            kept = [r for r in read_metrics(self.path) if r.get("epoch", 0) < keep_epochs_below]
            write_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any]) -> None:
        try:
            with open_append(self.path) as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:  # name the file: a full disk's error does not
            raise OSError(error.errno, error.strerror, str(self.path)) from None
