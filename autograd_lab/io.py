"""Checkpoints: `al.save` / `al.load`, safe by construction.

A checkpoint is a .npz archive of plain arrays read with allow_pickle=False, so
loading a file never executes code, plus one JSON entry of metadata holding a
SHA-256 digest of every array. Saving writes a temporary file in the same folder
and renames it over the target: a crash mid-save leaves the old file intact.
Truncated, corrupted or tampered files are refused with CheckpointError.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "autograd_lab-checkpoint-1"
_META = "__metadata__"


class CheckpointError(ValueError):
    """A file that is not a valid, intact autograd_lab checkpoint."""


def _digest(array: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(array.dtype).encode() + str(array.shape).encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)          # the only portable way to read it is to set it, so put it back
    os.umask(mask)
    return mask


def save(arrays, path, metadata=None) -> None:
    """Write a dict of arrays (e.g. model.state_dict()) and JSON metadata, atomically.

    >>> import autograd_lab as al, numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> al.save({"w": np.ones(3)}, path, metadata={"epoch": 2})
    >>> state, meta = al.load(path, with_metadata=True)
    >>> state["w"].tolist(), meta["epoch"]
    ([1.0, 1.0, 1.0], 2)
    """
    path = os.fspath(path)
    arrays = {str(k): np.asarray(getattr(v, "data", v)) for k, v in dict(arrays).items()}
    for key, value in arrays.items():
        if value.dtype == object:
            raise TypeError(f"save: {key!r} is an object array; checkpoints hold numbers only")
        if key == _META:
            raise ValueError(f"save: {_META!r} is a reserved key")
    header = {"format": FORMAT, "metadata": metadata or {},
              "digests": {k: _digest(v) for k, v in arrays.items()}}
    try:
        header_bytes = json.dumps(header).encode()
    except TypeError as exc:
        raise TypeError(f"save: metadata must be JSON-serialisable: {exc}") from None
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes 0600; a checkpoint is an ordinary file
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays, **{_META: np.frombuffer(header_bytes, dtype=np.uint8)})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)          # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path, with_metadata=False):
    """Read a checkpoint written by `save`; never unpickles, verifies every array."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"load: {path} is truncated or corrupt, or not a checkpoint at all "
                              "(no .npz archive in it)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if _META not in archive.files:
                raise CheckpointError(f"load: {path} is not an autograd_lab checkpoint (no metadata)")
            header = json.loads(archive[_META].tobytes().decode())
            arrays = {k: archive[k] for k in archive.files if k != _META}
    except CheckpointError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise CheckpointError(f"load: {path} holds pickled objects; refusing to load them "
                                  "(a checkpoint holds plain arrays only)") from None
        raise CheckpointError(f"load: {path} is corrupt: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"load: {path} is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"load: {path} has unknown format {header.get('format')!r}")
    digests = header.get("digests", {})
    if set(digests) != set(arrays):
        raise CheckpointError(f"load: {path} does not list the arrays it holds (tampered?)")
    for key, array in arrays.items():
        if _digest(array) != digests[key]:
            raise CheckpointError(f"load: {path}: array {key!r} does not match its digest (corrupt or tampered)")
    return (arrays, header.get("metadata", {})) if with_metadata else arrays
