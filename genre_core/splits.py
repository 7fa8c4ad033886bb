"""Honest train/valid/test splits: by track (or artist), before segmenting or augmenting.

A model evaluated on segments of songs it was trained on looks far better than
it is. Every protocol here therefore splits **track ids** (``"blues/blues.00000"``);
segments and augmented copies (``"blues/blues.00000#aug1"``) follow their track,
and :func:`check_no_leak` refuses any split, or any set of model inputs, where
one track, one group of exact duplicates, or (with ``group="artist"``) one
artist shows up on two sides.

Protocols
---------
``track_split``
    Stratified (per-genre proportions kept) random train/valid/test split with a
    seed (scikit-learn ``train_test_split``; ``StratifiedGroupKFold`` when
    tracks are grouped by artist or by duplicates).
``kfold_splits``
    Stratified group k-fold (``StratifiedGroupKFold``): each track is tested
    exactly once; a validation part is held out of each training fold.
``gtzan_filtered_split``
    The fault-filtered GTZAN partition (Kereliuk, Sturm & Larsen 2015) read
    from its list files; it removes GTZAN's repeated and mislabelled excerpts
    and keeps artists on one side.

A :class:`Split` is plain JSON (:meth:`Split.to_dict`), saved with every run so
the exact partition can be reproduced and checked.

Example
-------
>>> from genre_core.dataset import open_dataset
>>> ds = open_dataset("data/features_30_sec.csv")              # doctest: +SKIP
>>> split = track_split(ds, test_size=0.2, valid_size=0.1, seed=0)  # doctest: +SKIP
>>> len(split.train), len(split.valid), len(split.test)          # doctest: +SKIP
(700, 100, 200)
>>> check_no_leak(split)                                          # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Iterable, Mapping

import numpy as np

from . import config
from .errors import DatasetError, SplitLeakError

if TYPE_CHECKING:  # pragma: no cover
    from .dataset import Dataset

__all__ = [
    "Split",
    "SIDES",
    "track_split",
    "kfold_splits",
    "gtzan_filtered_split",
    "check_no_leak",
    "base_track_id",
]

#: The three sides of a split, in order.
SIDES = ("train", "valid", "test")
#: GTZAN fault-filtered list files, by side.
GTZAN_SPLIT_FILES = {"train": "train_filtered.txt", "valid": "valid_filtered.txt", "test": "test_filtered.txt"}
_AUDIO_SUFFIXES = {".wav", ".au", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".snd", ".aiff", ".aif"}


def base_track_id(item_id: str) -> str:
    """The track an item belongs to: strips an augmentation suffix (``#aug2``).

    Example
    -------
    >>> base_track_id("blues/blues.00000#aug2")
    'blues/blues.00000'
    """
    return str(item_id).split("#", 1)[0]


@dataclass
class Split:
    """Track ids on each side of a split, and how they were chosen.

    Attributes
    ----------
    train, valid, test : list of str
        Track ids (sorted). ``valid`` or ``test`` may be empty.
    protocol : str
        ``"track"``, ``"artist"``, ``"kfold"`` or ``"gtzan_filtered"``.
    seed : int or None
        Random seed used (``None`` for fixed protocols).
    details : dict
        JSON-able facts: sizes asked for, fold number, skipped tracks, and
        ``groups`` ({track id: group}) for tracks that must stay together
        (same artist, exact duplicates), which :func:`check_no_leak` enforces.
    """

    train: list[str]
    valid: list[str]
    test: list[str]
    protocol: str
    seed: int | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able form (round-trips through :meth:`from_dict`)."""
        return {
            "protocol": self.protocol,
            "seed": self.seed,
            "train": list(self.train),
            "valid": list(self.valid),
            "test": list(self.test),
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "Split":
        """Rebuild a split saved by :meth:`to_dict`.

        Raises
        ------
        DatasetError
            When a side or the protocol is missing or not a list of ids.
        """
        if not isinstance(d, Mapping):
            raise DatasetError("A saved split must be a JSON object.")
        for key in ("train", "protocol"):
            if key not in d:
                raise DatasetError(f"The saved split has no {key!r} entry.")
        sides = {}
        for side in SIDES:
            ids = d.get(side, [])
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise DatasetError(f"The saved split's {side!r} entry must be a list of track ids.")
            sides[side] = list(ids)
        seed = d.get("seed")
        return cls(protocol=str(d["protocol"]), seed=None if seed is None else int(seed),
                   details=dict(d.get("details") or {}), **sides)

    def ids(self, side: str) -> list[str]:
        """Track ids of one side."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, not {side!r}")
        return list(getattr(self, side))

    def counts(self, dataset: "Dataset | None" = None):
        """Number of tracks per side, or a genre x side table when ``dataset`` is given."""
        if dataset is None:
            return {side: len(getattr(self, side)) for side in SIDES}
        import pandas as pd

        label_of = {t.track_id: t.label for t in dataset.tracks}
        table = {side: Counter(label_of.get(t, "?") for t in getattr(self, side)) for side in SIDES}
        df = pd.DataFrame(table).reindex(sorted(set(dataset.labels) | set().union(*table.values())))
        return df.fillna(0).astype(int)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Split):
            return NotImplemented
        return self.to_dict() == other.to_dict()


# --------------------------------------------------------------------- grouping


def _track_groups(dataset: "Dataset", group: str) -> dict[str, str]:
    """Group key of every track: tracks sharing a key must share a side.

    Exact duplicates always share a group; with ``group="artist"`` so do tracks
    of one artist (tracks without an artist are their own group).
    """
    if group not in ("track", "artist"):
        raise DatasetError(f"Unknown split grouping {group!r}; use 'track' or 'artist'.")
    from .dataset import UnionFind

    ids = [t.track_id for t in dataset.tracks]
    groups = UnionFind(ids)
    find, union = groups.find, groups.union
    for grp in dataset.duplicates:
        members = [i for i in grp if i in groups]
        for other in members[1:]:
            union(members[0], other)
    if group == "artist":
        first_of: dict[str, str] = {}
        for t in dataset.tracks:
            if t.artist:
                if t.artist in first_of:
                    union(first_of[t.artist], t.track_id)
                else:
                    first_of[t.artist] = t.track_id
    return {i: find(i) for i in ids}


def _group_details(groups: dict[str, str], dataset: "Dataset", group: str) -> dict[str, str]:
    """The non-trivial part of ``groups`` as JSON ({track id: group name})."""
    artist_of = {t.track_id: t.artist for t in dataset.tracks}
    members: dict[str, list[str]] = defaultdict(list)
    for tid, g in groups.items():
        members[g].append(tid)
    out = {}
    for g, tids in members.items():
        if len(tids) < 2:
            continue
        artists = {artist_of[t] for t in tids if artist_of.get(t)}
        name = f"artist:{sorted(artists)[0]}" if group == "artist" and artists else f"dup:{g}"
        for t in tids:
            out[t] = name
    return dict(sorted(out.items()))


def _check_counts(labels: list[str], needed: int, what: str) -> None:
    counts = Counter(labels)
    small = sorted((c, g) for g, c in counts.items() if c < needed)
    if small:
        c, g = small[0]
        listing = ", ".join(f"{lab}={n}" for lab, n in sorted(counts.items()))
        raise DatasetError(
            f"Genre {g!r} has only {c} track(s); {what} needs at least {needed} per genre "
            f"(tracks per genre: {listing}). Add tracks, drop the genre, or use fewer sides/folds."
        )


def _holdout(ids: list[str], labels: list[str], groups: list[str], frac: float, seed: int | None,
             what: str) -> tuple[list[str], list[str]]:
    """Stratified hold-out of about ``frac`` of ``ids``, keeping groups together."""
    if frac <= 0:
        return list(ids), []
    n = len(ids)
    n_classes = len(set(labels))
    if len(set(groups)) == n:
        from sklearn.model_selection import train_test_split

        n_held = math.ceil(frac * n)
        if n_held < n_classes or n - n_held < n_classes:
            raise DatasetError(
                f"The {what} part would hold {n_held} of {n} tracks, but a stratified split of "
                f"{n_classes} genres needs at least one track per genre on each side; "
                f"use a {'larger' if n_held < n_classes else 'smaller'} {what} fraction or more tracks."
            )
        try:
            rest, held = train_test_split(list(ids), test_size=n_held, stratify=labels, random_state=seed)
        except ValueError as err:
            raise DatasetError(f"Cannot make a stratified {what} split: {err}") from None
        return list(rest), list(held)
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, int(round(1.0 / frac)))
    n_groups = len(set(groups))
    if n_groups < n_splits:
        raise DatasetError(
            f"Only {n_groups} artist/duplicate groups: too few to hold out a {what} part of {frac:.0%} "
            "while keeping each group on one side."
        )
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, held_idx = next(iter(sgkf.split(np.zeros(n), labels, groups)))
    held_set = set(int(i) for i in held_idx)
    rest = [ids[i] for i in range(n) if i not in held_set]
    held = [ids[i] for i in sorted(held_set)]
    return rest, held


def _validate_fraction(value: float, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{name} must be a number between 0 and 1, not {value!r}.") from None
    if not 0.0 <= value < 1.0:
        raise DatasetError(f"{name} must be between 0 and 1 (a fraction of the tracks), not {value}.")
    return value


# --------------------------------------------------------------------- protocols


def track_split(
    dataset: "Dataset",
    *,
    test_size: float = 0.2,
    valid_size: float = 0.1,
    seed: int | None = 0,
    group: str = "track",
) -> Split:
    """Stratified random split of tracks into train / valid / test.

    Parameters
    ----------
    dataset : Dataset
        Any dataset (audio, table or synthetic).
    test_size, valid_size : float
        Fractions of *all* tracks for test and validation (0 disables a side).
    seed : int or None
        Same seed + same dataset -> same split.
    group : {"track", "artist"}
        ``"artist"`` keeps each artist's tracks on one side (tracks with no
        known artist count as their own artist). Exact duplicates are always
        kept together.

    Raises
    ------
    DatasetError
        A genre has too few tracks for every side to get one, or the fractions
        are impossible.

    Example
    -------
    >>> split = track_split(ds, test_size=0.2, valid_size=0.1, seed=1)  # doctest: +SKIP
    >>> split.counts()                                                    # doctest: +SKIP
    {'train': 700, 'valid': 100, 'test': 200}
    """
    test_size = _validate_fraction(test_size, "test_size")
    valid_size = _validate_fraction(valid_size, "valid_size")
    if test_size + valid_size >= 1.0:
        raise DatasetError(
            f"test_size + valid_size = {test_size + valid_size:.2f} leaves no tracks for training."
        )
    if not dataset.tracks:
        raise DatasetError(f"Dataset {dataset.name!r} has no tracks to split.")
    groups_of = _track_groups(dataset, group)
    ids = [t.track_id for t in dataset.tracks]
    labels = [t.label for t in dataset.tracks]
    n_sides = 1 + (test_size > 0) + (valid_size > 0)
    sides_txt = "/".join(s for s, on in zip(SIDES, (True, valid_size > 0, test_size > 0)) if on)
    _check_counts(labels, n_sides, f"a stratified {sides_txt} split")
    label_of = dict(zip(ids, labels))

    rest, test = _holdout(ids, labels, [groups_of[i] for i in ids], test_size, seed, "test")
    valid: list[str] = []
    if valid_size > 0:
        frac = valid_size / (1.0 - test_size)
        rest, valid = _holdout(rest, [label_of[i] for i in rest], [groups_of[i] for i in rest],
                               frac, seed, "validation")
    details = {
        "test_size": test_size,
        "valid_size": valid_size,
        "group": group,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "groups": _group_details(groups_of, dataset, group),
    }
    if group == "artist":
        details["n_without_artist"] = sum(t.artist is None for t in dataset.tracks)
    split = Split(sorted(rest), sorted(valid), sorted(test),
                  protocol="artist" if group == "artist" else "track", seed=seed, details=details)
    check_no_leak(split)
    return split


def kfold_splits(
    dataset: "Dataset",
    *,
    k: int = 5,
    seed: int | None = 0,
    valid_size: float = 0.1,
    group: str = "track",
) -> list[Split]:
    """Stratified group k-fold: ``k`` splits whose test parts partition the tracks.

    Each fold's test part is one fold (``StratifiedGroupKFold`` with
    shuffling); ``valid_size`` (a fraction of all tracks) is held out of the
    remaining folds for early stopping / model selection.

    Raises
    ------
    DatasetError
        ``k`` < 2, or a genre has fewer than ``k`` tracks (groups).

    Example
    -------
    >>> folds = kfold_splits(ds, k=5, seed=0)      # doctest: +SKIP
    >>> sorted(sum((f.test for f in folds), [])) == sorted(t.track_id for t in ds.tracks)  # doctest: +SKIP
    True
    """
    from sklearn.model_selection import StratifiedGroupKFold

    try:
        k = int(k)
    except (TypeError, ValueError):
        raise DatasetError(f"k must be a whole number of folds, not {k!r}.") from None
    if k < 2:
        raise DatasetError(f"k-fold cross-validation needs k >= 2, not {k}.")
    valid_size = _validate_fraction(valid_size, "valid_size")
    if valid_size + 1.0 / k >= 1.0:
        raise DatasetError(f"valid_size={valid_size} with k={k} leaves no tracks for training.")
    groups_of = _track_groups(dataset, group)
    ids = [t.track_id for t in dataset.tracks]
    labels = [t.label for t in dataset.tracks]
    label_of = dict(zip(ids, labels))
    # Count groups (not tracks) per genre: a fold takes whole groups.
    group_label = {}
    for i in ids:
        group_label.setdefault(groups_of[i], label_of[i])
    # By track, every genre has a track in every test fold. By artist, a genre with fewer artists than
    # folds (GTZAN's blues: 4 artists in the development pool) is tested in fewer folds, but it must
    # still be on every fold's training (and validation) side: every track is still tested exactly once.
    per_genre: dict[str, int] = {}
    for lab in group_label.values():
        per_genre[lab] = per_genre.get(lab, 0) + 1
    needed = k if group == "track" else 2
    _check_counts(list(group_label.values()), needed + (1 if valid_size > 0 else 0),
                  f"{k}-fold cross-validation{' with a validation part' if valid_size > 0 else ''}"
                  f"{'' if group == 'track' else f' grouped by {group}'}")
    sparse = sorted(g for g, n in per_genre.items() if n < k)
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    group_list = [groups_of[i] for i in ids]
    splits = []
    try:
        assignments = list(sgkf.split(np.zeros(len(ids)), labels, group_list))
    except ValueError as err:  # e.g. more folds than a genre has tracks
        raise DatasetError(f"{k}-fold cross-validation is not possible on {dataset.name!r}: {err}") from None
    for fold, (rest_idx, test_idx) in enumerate(assignments):
        rest = [ids[i] for i in rest_idx]
        test = [ids[i] for i in test_idx]
        valid: list[str] = []
        if valid_size > 0:
            frac = valid_size * len(ids) / max(1, len(rest))
            rest, valid = _holdout(rest, [label_of[i] for i in rest], [groups_of[i] for i in rest],
                                   min(frac, 0.5), seed, "validation")
        details = {
            "k": k,
            "fold": fold,
            "valid_size": valid_size,
            "group": group,
            "dataset": dataset.name,
            "dataset_fingerprint": dataset.fingerprint,
            "groups": _group_details(groups_of, dataset, group),
        }
        if sparse:
            details["genres_in_fewer_test_folds"] = sparse
        split = Split(sorted(rest), sorted(valid), sorted(test), protocol="kfold", seed=seed, details=details)
        check_no_leak(split)
        splits.append(split)
    return splits


def _list_file_id(line: str) -> str:
    """``blues/blues.00000.wav`` -> ``blues/blues.00000`` (only audio suffixes are dropped)."""
    p = PurePosixPath(line.strip().replace("\\", "/"))
    if p.suffix.lower() in _AUDIO_SUFFIXES:
        p = p.with_suffix("")
    return str(p)


def gtzan_filtered_split(dataset: "Dataset", splits_dir: str | os.PathLike | None = None) -> Split:
    """GTZAN's fault-filtered train/valid/test partition, restricted to ``dataset``.

    Reads ``train_filtered.txt``, ``valid_filtered.txt`` and ``test_filtered.txt``
    from ``splits_dir`` (default ``config.gtzan_dir()/"splits"``); each line
    names a file (``blues/blues.00000.wav``) whose track id is
    ``blues/blues.00000`` whatever the dataset's audio format. Listed tracks
    missing from the dataset are skipped and counted in ``details["missing"]``;
    dataset tracks listed nowhere (the filtered-out faulty excerpts) are left
    out and counted in ``details["unlisted"]``. A side may end up empty (the
    development subset of GTZAN has no test tracks, for instance).

    Raises
    ------
    DatasetError
        The folder or the train list is missing, or no listed track is in the dataset.
    SplitLeakError
        A track is listed on two sides.

    Example
    -------
    >>> split = gtzan_filtered_split(open_dataset(config.default_feature_table()))  # doctest: +SKIP
    >>> split.counts()                                                               # doctest: +SKIP
    {'train': 443, 'valid': 197, 'test': 290}
    """
    folder = Path(splits_dir).expanduser() if splits_dir is not None else config.gtzan_dir() / "splits"
    if not folder.is_dir():
        raise DatasetError(
            f"GTZAN split lists folder {folder} does not exist; it should hold "
            f"{', '.join(GTZAN_SPLIT_FILES.values())}."
        )
    if not (folder / GTZAN_SPLIT_FILES["train"]).is_file():
        raise DatasetError(f"GTZAN split list {folder / GTZAN_SPLIT_FILES['train']} does not exist.")
    present = {t.track_id for t in dataset.tracks}
    sides: dict[str, list[str]] = {}
    listed: dict[str, int] = {}
    missing: dict[str, int] = {}
    missing_examples: list[str] = []
    for side, fname in GTZAN_SPLIT_FILES.items():
        path = folder / fname
        lines = []
        if path.is_file():
            lines = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                     if ln.strip() and not ln.lstrip().startswith("#")]
        ids = list(dict.fromkeys(_list_file_id(ln) for ln in lines))
        listed[side] = len(ids)
        kept = [i for i in ids if i in present]
        gone = [i for i in ids if i not in present]
        missing[side] = len(gone)
        missing_examples.extend(gone[: max(0, 5 - len(missing_examples))])
        sides[side] = sorted(kept)
    if not sides["train"]:
        raise DatasetError(
            f"None of the {listed['train']} training tracks listed in {folder / GTZAN_SPLIT_FILES['train']} "
            f"is in dataset {dataset.name!r}; track ids look like 'blues/blues.00000'."
        )
    all_listed = set().union(*map(set, sides.values()))
    unlisted = sorted(present - all_listed)
    details = {
        "splits_dir": str(folder),
        "listed": listed,
        "missing": missing,
        "missing_examples": missing_examples,
        "unlisted": len(unlisted),
        "unlisted_examples": unlisted[:5],
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
    }
    dup_sides = []
    for grp in dataset.duplicates:
        where = {side for side in SIDES for t in grp if t in set(sides[side])}
        if len(where) > 1:
            dup_sides.append(grp)
    if dup_sides:
        details["duplicates_across_sides"] = dup_sides
    split = Split(sides["train"], sides["valid"], sides["test"], protocol="gtzan_filtered", seed=None,
                  details=details)
    check_no_leak(split)
    return split



def gtzan_dev_split(dataset: "Dataset", *, valid_size: float = 0.15, seed: int = 0,
                    splits_dir: str | os.PathLike | None = None) -> Split:
    """GTZAN's fault-filtered split for a dataset that holds none of its test tracks.

    The shared GTZAN development audio has only tracks from the filtered
    *train* and *valid* lists. Evaluating on the valid list while it also steers
    early stopping would flatter the model, so this protocol keeps every
    decision away from the evaluated tracks: the filtered **valid** tracks become
    the **test** side, and a stratified validation part (``valid_size`` of the
    filtered train tracks, by track, seeded) is held out of the filtered
    **train** tracks for early stopping. When the dataset does have filtered
    test tracks, the plain :func:`gtzan_filtered_split` is returned unchanged.

    Example
    -------
    >>> split = gtzan_dev_split(open_dataset([gtzan / "audio", gtzan / "excerpts"]))  # doctest: +SKIP
    >>> split.protocol, split.counts()                                               # doctest: +SKIP
    ('gtzan_filtered_dev', {'train': 282, 'valid': 49, 'test': 41})
    """
    base = gtzan_filtered_split(dataset, splits_dir)
    if base.test or not base.valid:
        return base
    _validate_fraction(valid_size, "valid_size")
    label_of = {t.track_id: t.label for t in dataset.tracks}
    groups = _track_groups(dataset, "track")
    ids = list(base.train)
    rest, held = _holdout(ids, [label_of[i] for i in ids], [groups.get(i, i) for i in ids], valid_size, seed,
                          "validation")
    details = dict(base.details)
    details.update({
        "valid_size": valid_size,
        "note": ("GTZAN fault-filtered lists, development variant: the dataset holds none of the filtered test "
                 "tracks, so the filtered valid tracks are the test side and the validation side is a stratified "
                 f"{valid_size:.0%} of the filtered train tracks (seed {seed})."),
    })
    split = Split(sorted(rest), sorted(held), sorted(base.valid), protocol="gtzan_filtered_dev", seed=seed,
                  details=details)
    check_no_leak(split)
    return split


# --------------------------------------------------------------------- leak check


def check_no_leak(split: Split, *, segment_track_ids: Mapping[str, Iterable[str]] | None = None) -> None:
    """Refuse a split (or the model inputs built from it) that leaks across sides.

    Checks that

    * no track id (after stripping ``#augK``) is on two sides;
    * no group in ``split.details["groups"]`` (an artist, exact duplicates)
      spans two sides;
    * when ``segment_track_ids`` is given (``{"train": ids, "valid": ids,
      "test": ids}``, one id per segment or augmented copy that will be fed
      to a model), every segment belongs to a track of that side, and
      augmented copies appear only on the training side.

    Raises
    ------
    SplitLeakError
        Naming the track (or artist) and the two sides.

    Example
    -------
    >>> check_no_leak(Split(["a/1"], [], ["a/1"], protocol="track"))
    Traceback (most recent call last):
    ...
    genre_core.errors.SplitLeakError: Track 'a/1' is on both the train and test sides of this track split; ...
    """
    where: dict[str, str] = {}
    for side in SIDES:
        for item in getattr(split, side):
            tid = base_track_id(item)
            prev = where.get(tid)
            if prev is not None and prev != side:
                raise SplitLeakError(
                    f"Track {tid!r} is on both the {prev} and {side} sides of this {split.protocol} "
                    "split; a track (and its segments and augmented copies) must be on one side only."
                )
            where[tid] = side
    groups = (split.details or {}).get("groups") or {}
    group_side: dict[str, tuple[str, str]] = {}
    for tid, grp in groups.items():
        side = where.get(tid)
        if side is None:
            continue
        prev = group_side.get(grp)
        if prev is not None and prev[0] != side:
            kind = "Artist" if str(grp).startswith("artist:") else "Duplicate group"
            label = str(grp).split(":", 1)[1] if ":" in str(grp) else grp
            raise SplitLeakError(
                f"{kind} {label!r} spans the {prev[0]} ({prev[1]!r}) and {side} ({tid!r}) sides; "
                "grouped tracks must stay on one side."
            )
        group_side[grp] = (side, tid)
    if segment_track_ids is None:
        return
    for side, items in segment_track_ids.items():
        if side not in SIDES:
            raise ValueError(f"segment_track_ids keys must be among {SIDES}, not {side!r}")
        for item in items:
            item = str(item)
            tid = base_track_id(item)
            actual = where.get(tid)
            if actual is None:
                raise SplitLeakError(
                    f"The {side} data contains segments of track {tid!r}, which is not part of this split."
                )
            if actual != side:
                raise SplitLeakError(
                    f"The {side} data contains segments of track {tid!r}, which belongs to the {actual} side."
                )
            if "#" in item and side != "train":
                raise SplitLeakError(
                    f"Augmented copy {item!r} is in the {side} data; augmentation is for training tracks only."
                )
