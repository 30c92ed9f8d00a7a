"""Tiny inline exports for the source-reader tests, written as the publishers write them."""

from __future__ import annotations

from pathlib import Path


def write_export(
    path: Path, header: str, rows: tuple[str, ...], *, bom: bool = False, newline: str = "\r\n"
) -> Path:
    """``header`` then ``rows``, each ended by ``newline``, UTF-8 (with a BOM when asked)."""
    text = header.rstrip("\r\n") + newline + "".join(r + newline for r in rows)
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path
