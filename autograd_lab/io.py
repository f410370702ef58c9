"""Checkpoints: `al.save` / `al.load`, safe by construction.

A checkpoint is a safetensors file (https://huggingface.co/docs/safetensors): a JSON
header naming each array's dtype, shape and byte range, then the raw bytes. Loading
never executes code, and any tool that reads safetensors (`safetensors.numpy.load_file`,
PyTorch, JAX, the Hugging Face hub) reads our weights. The header's free-form
`__metadata__` holds ours as JSON strings: the format name, the caller's metadata and
a SHA-256 digest of every array, so a tampered or corrupted file is refused even when
it is well formed. Saving writes a temporary file in the same folder and renames it
over the target: a crash mid-save leaves the old file intact. Truncated, corrupted or
tampered files are refused with CheckpointError.

Checkpoints written before safetensors (.npz archives with a JSON entry holding the
same digests) still load, read with allow_pickle=False.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "autograd_lab-checkpoint-1"
_META = "__metadata__"          # the legacy .npz entry holding the header
# safetensors stores these dtypes; anything else (complex, object, strings) is refused on save
_STORABLE = {np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                    np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                                    np.float64)}


class CheckpointError(ValueError):
    """A file that is not a valid, intact autograd_lab checkpoint."""


def _digest(array: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(array.dtype).encode() + str(array.shape).encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def _contiguous(a):
    # np.ascontiguousarray makes a 0-d array 1-D (BatchNorm's num_batches_tracked is 0-d)
    return a if a.ndim == 0 else np.ascontiguousarray(a)


def save(arrays, path, metadata=None) -> None:
    """Write a dict of arrays (e.g. model.state_dict()) and JSON metadata as safetensors, atomically.

    The dict may also nest: `{"model": model.state_dict(), "optimizer":
    optimizer.state_dict(), "epoch": 3}` comes back from `al.load` as it went in
    (numbers, strings, lists and dicts of them; arrays as numpy arrays). Objects
    (a model, an optimizer) are refused with a note on what to save instead.

    >>> import autograd_lab as al, numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> al.save({"w": np.ones(3)}, path, metadata={"epoch": 2})
    >>> state, meta = al.load(path, with_metadata=True)
    >>> state["w"].tolist(), meta["epoch"]
    ([1.0, 1.0, 1.0], 2)
    >>> import safetensors.numpy                       # any safetensors reader gets the arrays
    >>> safetensors.numpy.load_file(path)["w"].tolist()
    [1.0, 1.0, 1.0]
    """
    from safetensors.numpy import save as to_safetensors_bytes
    path = os.fspath(path)
    _refuse_objects(arrays)
    arrays, metadata = _flatten(arrays, metadata)
    arrays = {str(k): _contiguous(np.asarray(getattr(v, "data", v))) for k, v in dict(arrays).items()}
    for key, value in arrays.items():
        if value.dtype == object:
            raise TypeError(f"save: {key!r} is an object array; checkpoints hold numbers only")
        if value.dtype not in _STORABLE:
            raise TypeError(f"save: {key!r} has dtype {value.dtype}, which safetensors cannot store "
                            f"(numbers: bool, int, uint, float16/32/64)")
    try:
        header = {"format": FORMAT, "metadata": json.dumps(metadata or {}),
                  "digests": json.dumps({k: _digest(v) for k, v in arrays.items()})}
    except TypeError as exc:
        raise TypeError(f"save: metadata must be JSON-serialisable: {exc}") from None
    payload = to_safetensors_bytes(arrays, metadata=header)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the mode an ordinary open() would (umask applies)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)          # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path, with_metadata=False, weights_only=True, map_location=None):
    """Read a checkpoint written by `save` (or an older .npz one); never unpickles, verifies every array.

    `weights_only` and `map_location` are PyTorch's keywords, accepted so its calls run:
    loading here is always weights-only (either value reads the same state), and
    everything lands on the CPU."""
    if map_location is not None and str(map_location).split(":")[0] != "cpu":
        raise RuntimeError(f"load(map_location={str(map_location)!r}): autograd_lab runs on the CPU only")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"load: {path} is a folder, not a checkpoint file")
    if zipfile.is_zipfile(path):
        arrays, header = _load_npz(path)
    else:
        arrays, header = _load_safetensors(path)
    if header.get("format") != FORMAT:
        raise CheckpointError(f"load: {path} has unknown format {header.get('format')!r}")
    digests = header.get("digests", {})
    if set(digests) != set(arrays):
        raise CheckpointError(f"load: {path} does not list the arrays it holds (tampered?)")
    for key, array in arrays.items():
        if _digest(array) != digests[key]:
            raise CheckpointError(f"load: {path}: array {key!r} does not match its digest (corrupt or tampered)")
    arrays, metadata = _unflatten(arrays, dict(header.get("metadata", {})))
    return (arrays, metadata) if with_metadata else arrays


def _load_safetensors(path):
    from safetensors import SafetensorError, safe_open
    with open(path, "rb") as f:
        start = f.read(9)
    # 8 bytes of header length, then the JSON header: anything else is not safetensors at all
    if len(start) < 9 or start[8:9] != b"{":
        raise CheckpointError(f"load: {path} is truncated or corrupt, or not a checkpoint at all "
                              "(neither a safetensors file nor an .npz archive)")
    try:
        with safe_open(path, framework="numpy") as f:
            raw = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"load: {path} is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    if "format" not in raw:
        raise CheckpointError(f"load: {path} is a safetensors file but not an autograd_lab checkpoint "
                              "(no autograd_lab metadata in its header)")
    try:
        header = {"format": raw["format"], "metadata": json.loads(raw.get("metadata", "{}")),
                  "digests": json.loads(raw.get("digests", "{}"))}
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"load: {path} has a corrupt header ({exc})") from None
    return arrays, header


def _load_npz(path):
    """The checkpoint format before safetensors: an .npz with the header as a uint8 entry."""
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
    return arrays, header


# ---- nested checkpoints: {"model": ..., "optimizer": ..., "epoch": 3}, as torch.save takes them ----
# Arrays are stored under their path ("model/0.weight", "optimizer/state/0/exp_avg"); the
# structure and every non-array leaf (numbers, strings, lists, None) go into the metadata as
# JSON, under _TREE. A flat dict of arrays (a state_dict) is stored exactly as before.
_TREE = "__tree__"


def _refuse_objects(obj):
    kind = type(obj).__name__
    if hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict"):
        raise TypeError(
            f"save: got a {kind} object; checkpoints hold arrays and numbers, never code, so save "
            f"its state: al.save(obj.state_dict(), path), and restore it into an object built by "
            f"your code with obj.load_state_dict(al.load(path)) (PyTorch recommends the same). "
            f"Model, optimizer and epoch together: al.save({{'model': model.state_dict(), "
            f"'optimizer': optimizer.state_dict(), 'epoch': epoch}}, path)")


def _is_array(v):
    return isinstance(v, np.ndarray) or (hasattr(v, "data") and isinstance(v.data, np.ndarray))


def _flatten(obj, metadata):
    if not hasattr(obj, "items"):
        raise TypeError(f"save: expected a dict (e.g. model.state_dict()), got {type(obj).__name__}")
    if all(_is_array(v) for v in obj.values()):
        return obj, metadata
    arrays = {}

    def walk(value, path):
        if _is_array(value):
            key = "/".join(path)
            arrays[key] = value
            return {"array": key}
        if hasattr(value, "items"):
            for k in value:
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise TypeError(f"save: key {k!r} at {'/'.join(path) or 'top'} must be a str or int")
            return {"dict": [[k, walk(v, path + [str(k)])] for k, v in value.items()]}
        if isinstance(value, (list, tuple)):
            return {"list": [walk(v, path + [str(i)]) for i, v in enumerate(value)],
                    "tuple": isinstance(value, tuple)}
        _refuse_objects(value)
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return {"value": value}
        raise TypeError(f"save: {'/'.join(path)} is a {type(value).__name__}; checkpoints hold "
                        "arrays, numbers, strings, lists and dicts of them")

    tree = walk(obj, [])
    metadata = dict(metadata or {})
    if _TREE in metadata:
        raise ValueError(f"save: {_TREE!r} is a reserved metadata key")
    metadata[_TREE] = tree
    return arrays, metadata


def _unflatten(arrays, metadata):
    tree = metadata.pop(_TREE, None)
    if tree is None:
        return arrays, metadata

    def build(node):
        if "array" in node:
            return arrays[node["array"]]
        if "dict" in node:
            return {k: build(v) for k, v in node["dict"]}
        if "list" in node:
            items = [build(v) for v in node["list"]]
            return tuple(items) if node.get("tuple") else items
        return node["value"]

    try:
        return build(tree), metadata
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"load: the checkpoint's structure does not match its arrays ({exc})") from None
