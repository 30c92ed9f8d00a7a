"""Line numbers for rejections whose reader reports only the row text."""

from __future__ import annotations

from collections import defaultdict, deque
from pathlib import Path


class LineFinder:
    """``line_of(raw)``: the 1-based line of the next unclaimed row with exactly that text.

    For files without quoted newlines (one row per line); an unknown text gives 0.
    """

    def __init__(self, path: Path) -> None:
        self._lines: dict[str, deque[int]] = defaultdict(deque)
        with path.open(encoding="utf-8-sig", newline="") as src:
            for number, text in enumerate(src, start=1):
                self._lines[text.rstrip("\r\n")].append(number)

    def line_of(self, raw: str) -> int:
        found = self._lines.get(raw)
        return found.popleft() if found else 0
