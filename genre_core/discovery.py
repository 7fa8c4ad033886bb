"""What data genre-lab can see, without decoding anything (the Home page's list of datasets).

Example
-------
>>> names = [d["name"] for d in discover_datasets()]
>>> "synthetic" in names
True
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import config
from .errors import GenreLabError

__all__ = ["discover_datasets"]


def _has_genre_folders(root: Path, exts: tuple[str, ...], *, max_files: int = 2000) -> tuple[int, int]:
    """(genre folders with audio, audio files seen) directly under ``root`` (cheap: no decoding)."""
    genres = files = 0
    try:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return 0, 0
    for d in subdirs:
        try:
            n = sum(1 for f in d.iterdir() if f.is_file() and f.suffix.lower() in exts)
        except OSError:
            n = 0
        if n:
            genres += 1
            files += n
        if files > max_files:
            break
    return genres, files



def _allowed(path: Path) -> bool:
    try:
        config.check_allowed_path(path)
        return True
    except GenreLabError:
        return False



def discover_datasets() -> list[dict]:
    """What data genre-lab can see, without decoding anything.

    Returns dicts ``{"name", "kind", "path", "tracks", "genres", "note"}`` for
    the bundled feature table, the CSV tables and genre folders in the data
    folder (and one level below it), the GTZAN development audio when present,
    and the synthetic demo dataset (always available).
    """
    from genre_core.audio import SUPPORTED_EXTENSIONS
    from genre_core.synthetic import SYNTHETIC_GENRES

    out: list[dict] = []
    seen: set[Path] = set()
    table = config.default_feature_table()

    def add_table(path: Path, note: str) -> None:
        rp = path.resolve()
        if rp in seen or not _allowed(path):
            return
        seen.add(rp)
        try:
            df = pd.read_csv(path, usecols=lambda c: c in ("filename", "label"))
            tracks = len(df)
            genres = int(df["label"].nunique()) if "label" in df else None
        except Exception:  # noqa: BLE001 - listed with a note, opened properly elsewhere
            tracks = genres = None
            note = "not a readable feature table"
        out.append({"name": path.name, "kind": "feature table", "path": str(path), "tracks": tracks,
                    "genres": genres, "note": note})

    def add_folder(path: Path, note: str) -> None:
        rp = path.resolve()
        if rp in seen or not _allowed(path):
            return
        genres, files = _has_genre_folders(path, SUPPORTED_EXTENSIONS)
        if genres:
            seen.add(rp)
            out.append({"name": path.name, "kind": "audio folder", "path": str(path), "tracks": files,
                        "genres": genres, "note": note})

    if table.is_file():
        add_table(table, "bundled: GTZAN's public 30 s feature table")
    data = config.data_dir()
    if data.is_dir():
        for csv in sorted(data.glob("*.csv")):
            add_table(csv, "in the data folder")
        add_folder(data, "the data folder itself")
        for sub in sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")):
            add_folder(sub, "in the data folder")
    gtzan = config.gtzan_dir() / "audio"
    if gtzan.is_dir():
        add_folder(gtzan, "GTZAN development audio (GENRE_GTZAN_DIR)")
    out.append({"name": "synthetic", "kind": "synthetic", "path": "synthetic", "tracks": None,
                "genres": len(SYNTHETIC_GENRES),
                "note": "made on the fly: " + ", ".join(SYNTHETIC_GENRES) + " (not real music)"})
    return out
