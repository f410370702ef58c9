"""Train/test splits that measure generalisation honestly.

- `kfold`: stratified k-fold over clips (every fold holds about 1/k of every class).
- `group_kfold`: whole groups (a speaker, a source recording) go to one fold, so no group
  sits on both sides of a split.
- `predefined_folds`: the folds the data comes with, from a `folds.csv` beside the class
  folders (columns `file,fold`; `file` relative to the data folder or a bare file name)
  or from a numeric file-name prefix such as `3-...` (the public environmental-sound
  sets name their clips `{fold}-{source}-{take}-{class}.wav`).
- `groups_of`: a group name per clip from a file-name field (`--group-by`).
"""
from __future__ import annotations

import csv
import os
import re

import numpy as np

from .datasets import DatasetError

_FIELD_SEPARATORS = re.compile(r"[-_]")
_FOLD_PREFIX = re.compile(r"^(\d+)-")


def kfold(labels, k=5, seed=0):
    """Stratified k-fold: a list of k (train indices, test indices)."""
    labels = np.asarray(labels)
    if k < 2:
        raise DatasetError(f"kfold: k must be >= 2, got {k}")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        fold_of[rng.permutation(members)] = np.arange(len(members)) % k
    return folds_from_assignment(fold_of)


def group_kfold(groups, k=5, seed=0):
    """k folds of whole groups, balanced by clip count (largest groups placed first, each in
    the fold with the fewest clips so far; ties broken by `seed`)."""
    groups = np.asarray(groups)
    names, sizes = np.unique(groups, return_counts=True)
    if len(names) < k:
        raise DatasetError(f"group k-fold: {k} folds need at least {k} groups, found {len(names)} "
                           f"({', '.join(map(str, names[:6]))}{', ...' if len(names) > 6 else ''})")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    load = np.zeros(k, np.int64)
    fold_of_group = {}
    for g in order:
        f = int(np.argmin(load))
        fold_of_group[names[g]] = f
        load[f] += sizes[g]
    return folds_from_assignment(np.asarray([fold_of_group[g] for g in groups]))


def folds_from_assignment(fold_of):
    """[(train, test)] for each distinct fold number, in increasing order."""
    fold_of = np.asarray(fold_of)
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in np.unique(fold_of)]


def _relative(dataset, path):
    return os.path.relpath(path, dataset.root).replace(os.sep, "/")


def predefined_folds(dataset, source="auto"):
    """(fold number per clip, where it came from) or (None, reason) when the data defines none.

    source "csv" reads root/folds.csv, "prefix" the file names' `N-` prefix, "auto" the csv
    if it exists, else the prefix if every file has one and there are at least two folds.
    """
    files = list(getattr(dataset, "files", []))
    if not files or files[0] is None:
        return None, "the clips are made in code"
    table = os.path.join(dataset.root, "folds.csv")
    if source == "csv" or (source == "auto" and os.path.exists(table)):
        if not os.path.exists(table):
            raise DatasetError(f"--folds-from csv: no folds.csv in {dataset.root}")
        fold_by = {}
        with open(table, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"file", "fold"} <= set(reader.fieldnames):
                raise DatasetError(f"{table}: needs the columns 'file' and 'fold', has {reader.fieldnames}")
            for row in reader:
                try:
                    fold_by[row["file"].strip().replace(os.sep, "/")] = int(row["fold"])
                except ValueError:
                    raise DatasetError(f"{table}: fold {row['fold']!r} of {row['file']!r} is not a "
                                       "whole number") from None
        folds, missing = [], []
        for path in files:
            rel = _relative(dataset, path)
            fold = fold_by.get(rel, fold_by.get(os.path.basename(path)))
            if fold is None:
                missing.append(rel)
            folds.append(fold)
        if missing:
            raise DatasetError(f"{table}: no fold for {len(missing)} files ({', '.join(missing[:3])}"
                               f"{', ...' if len(missing) > 3 else ''})")
        return np.asarray(folds, np.int64), f"folds.csv ({len(set(folds))} folds)"
    matches = [_FOLD_PREFIX.match(os.path.basename(p)) for p in files]
    if all(matches) and len({m[1] for m in matches}) >= 2:
        folds = np.asarray([int(m[1]) for m in matches], np.int64)
        return folds, f"the file-name prefix N- ({len(set(folds.tolist()))} folds)"
    if source == "prefix":
        bad = [os.path.basename(p) for p, m in zip(files, matches) if not m][:3]
        raise DatasetError("--folds-from prefix: not every file name starts with a fold number and '-' "
                           f"(e.g. {', '.join(bad) or 'all in one fold'})")
    return None, "no folds.csv and no N- file-name prefix"


def groups_of(dataset, field):
    """One group name per clip: `field` is a 0-based index into the file name's fields
    (the name without extension, split at '-' and '_'), "folder" for the folder holding
    the file, or "speaker" for the spoken-digit set.

    >>> from types import SimpleNamespace
    >>> groups_of(SimpleNamespace(files=["dog/1-100032-A-0.wav", "dog/1-100032-B-0.wav"]), "1")
    ['100032', '100032']
    """
    if field == "speaker" and hasattr(dataset, "speakers"):
        return list(dataset.speakers)
    files = list(getattr(dataset, "files", []))
    if not files or files[0] is None:
        raise DatasetError("--group-by: the clips are made in code; there are no file names to group by")
    if field == "folder":
        return [os.path.dirname(p) for p in files]
    try:
        index = int(field)
    except ValueError:
        raise DatasetError(f"--group-by: expected a field number (0 = the first part of the file name, "
                           f"split at '-' and '_'), 'folder' or 'speaker', got {field!r}") from None
    out = []
    for path in files:
        parts = _FIELD_SEPARATORS.split(os.path.splitext(os.path.basename(path))[0])
        if not -len(parts) <= index < len(parts):
            raise DatasetError(f"--group-by {field}: {os.path.basename(path)} has only {len(parts)} "
                               "fields (split at '-' and '_')")
        out.append(parts[index])
    return out
