"""Getting clips ready for a network: loudness, length, features, caching, augmentation.

`FeatureConfig` names every choice that shapes a log-mel input (rate, duration,
STFT and mel parameters). It travels inside checkpoints, so `evaluate` and
`predict` compute features exactly as training did, and it is the key of the
on-disk feature cache, so a changed parameter never reuses stale features.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings

import numpy as np

from .features import log_melspectrogram
from .io import AudioFileError


def normalize_loudness(y, target_db=-20.0, eps=1e-8):
    """Scale a clip so that its RMS level is `target_db` dBFS (silence stays silence).

    The peak is then limited to 1 (scaled down as a whole, not clipped), so the result
    stays in [-1, 1].

    >>> import autograd_lab as al, numpy as np
    >>> y = al.audio.normalize_loudness(np.full(100, 0.5, np.float32), target_db=-20)
    >>> round(float(20 * np.log10(np.sqrt(np.mean(y ** 2)))), 3)
    -20.0
    """
    y = np.asarray(y)
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
    if rms < eps:
        return y.copy()
    out = y * (10.0 ** (target_db / 20.0) / rms)
    peak = float(np.max(np.abs(out)))
    if peak > 1.0:
        out = out / peak
    return out.astype(y.dtype, copy=False)


def fix_length(y, size, mode="center"):
    """Pad with zeros or crop to exactly `size` samples along the last axis.

    mode "center" keeps the middle of a long clip and centres a short one;
    "start" keeps the beginning and pads at the end.

    >>> import autograd_lab as al, numpy as np
    >>> al.audio.fix_length(np.arange(1.0, 6.0), 3).tolist(), al.audio.fix_length(np.ones(2), 4).tolist()
    ([2.0, 3.0, 4.0], [0.0, 1.0, 1.0, 0.0])
    """
    y = np.asarray(y)
    n = y.shape[-1]
    if mode not in ("center", "start"):
        raise ValueError(f"fix_length: mode must be 'center' or 'start', got {mode!r}")
    if n >= size:
        start = (n - size) // 2 if mode == "center" else 0
        return y[..., start:start + size].copy()
    before = (size - n) // 2 if mode == "center" else 0
    pad = [(0, 0)] * (y.ndim - 1) + [(before, size - n - before)]
    return np.pad(y, pad)


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """How a clip becomes a log-mel input (1, n_mels, frames).

    Resample to `sr`, normalise the RMS level to `loudness_db` dBFS, pad or crop to
    `duration` seconds, then power_to_db(melspectrogram(...)) with these parameters.

    >>> import autograd_lab as al, numpy as np
    >>> config = al.audio.FeatureConfig(sr=8000, duration=1.0, n_mels=40)
    >>> config.features(np.zeros(22050, np.float32), sr=22050).shape     # any rate and length in
    (1, 40, 63)
    """
    sr: int = 8000
    duration: float = 1.0
    n_fft: int = 256
    hop_length: int = 128
    n_mels: int = 40
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    norm: str | None = "slaney"
    top_db: float | None = 80.0
    loudness_db: float = -20.0

    @property
    def n_samples(self) -> int:
        return int(round(self.sr * self.duration))

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples // self.hop_length

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d) -> "FeatureConfig":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def waveform(self, y, sr) -> np.ndarray:
        """Resampled, loudness-normalised and fixed-length samples (float32)."""
        from .io import resample
        y = resample(np.asarray(y, np.float32), sr, self.sr)
        return fix_length(normalize_loudness(y, self.loudness_db), self.n_samples)

    def features(self, y, sr) -> np.ndarray:
        """The log-mel input (1, n_mels, frames), float32, from samples at rate `sr`."""
        S = log_melspectrogram(self.waveform(y, sr), sr=self.sr, n_fft=self.n_fft,
                               hop_length=self.hop_length, n_mels=self.n_mels, fmin=self.fmin,
                               fmax=self.fmax, htk=self.htk, norm=self.norm, top_db=self.top_db)
        return S[None].astype(np.float32)


def default_cache_dir() -> str:
    """$AUTOGRAD_LAB_CACHE_DIR, else $XDG_CACHE_HOME/autograd_lab, else ~/.cache/autograd_lab."""
    root = os.environ.get("AUTOGRAD_LAB_CACHE_DIR")
    if root:
        return root
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "autograd_lab")


def extract_features(dataset, config: FeatureConfig, cache_dir=None, use_cache=True, strict=False,
                     progress=True):
    """Log-mel features of every clip -> (X (N, 1, n_mels, frames) float32, y (N,) int64, kept).

    `kept` holds the dataset indices that were used: a clip that cannot be read is
    skipped with a warning naming the file, or raises with strict=True.

    With use_cache, the result is stored under `cache_dir` (default_cache_dir()/features)
    keyed by a digest of the feature config and of the dataset's identity (each file's
    path, size and modification time, or a generator's parameters), and the full key is
    compared again on reading, so features are reused only when every input is unchanged.
    """
    from tqdm.auto import tqdm
    from .. import io

    key = {"config": config.to_dict(), "dataset": dataset.identity(), "strict": bool(strict)}
    key_text = json.dumps(key, sort_keys=True)
    path = None
    if use_cache:
        folder = os.path.join(cache_dir or default_cache_dir(), "features")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, hashlib.sha256(key_text.encode()).hexdigest()[:32] + ".npz")
        if os.path.exists(path):
            try:
                arrays, meta = io.load(path, with_metadata=True)
                if meta.get("key") == key_text:
                    for warning in meta.get("warnings", []):
                        warnings.warn(warning, stacklevel=2)
                    return arrays["X"], arrays["y"], arrays["kept"]
            except io.CheckpointError:
                pass                                # a damaged cache entry is recomputed
    features, labels, kept, skipped = [], [], [], []
    for i in tqdm(range(len(dataset)), desc="features", unit="clip", leave=False, disable=not progress):
        try:
            samples, sr, label = dataset[i]
        except AudioFileError as exc:
            if strict:
                raise
            skipped.append(f"skipped unreadable clip: {exc}")
            warnings.warn(skipped[-1], stacklevel=2)
            continue
        features.append(config.features(samples, sr))
        labels.append(label)
        kept.append(i)
    if not features:
        raise AudioFileError(f"{dataset.describe()}: no readable clips")
    X = np.stack(features)
    y = np.asarray(labels, np.int64)
    kept = np.asarray(kept, np.int64)
    if path is not None:
        io.save({"X": X, "y": y, "kept": kept}, path, metadata={"key": key_text, "warnings": skipped})
    return X, y, kept


class Augment:
    """Seeded augmentation of waveforms and of log-mel spectrograms.

    waveform(y): a random time shift of up to `max_shift` of the length (not circular:
    silence comes in at the edge), and white noise at a random SNR in `snr_db`.
    spectrogram(S): the same time shift in frames, then SpecAugment-style masks:
    `time_masks` bands of up to `time_mask` frames and `freq_masks` bands of up to
    `freq_mask` mel bins, set to the clip's minimum (silence in dB).
    The same seed gives the same sequence of augmentations.

    >>> import numpy as np, autograd_lab as al
    >>> S = np.zeros((2, 1, 8, 20), np.float32) + np.arange(20)
    >>> a, b = al.audio.Augment(seed=1), al.audio.Augment(seed=1)
    >>> bool(np.array_equal(a.spectrogram(S), b.spectrogram(S)))
    True
    """

    def __init__(self, max_shift=0.1, snr_db=(10.0, 40.0), time_masks=1, time_mask=6, freq_masks=1,
                 freq_mask=4, seed=0):
        self.max_shift, self.snr_db = max_shift, snr_db
        self.time_masks, self.time_mask = time_masks, time_mask
        self.freq_masks, self.freq_mask = freq_masks, freq_mask
        self.rng = np.random.default_rng(seed)

    @staticmethod
    def _shift(x, k, fill=0):
        """x moved by k samples along the last axis, `fill` coming in at the edge."""
        out = np.full_like(x, fill)
        if k > 0:
            out[..., k:] = x[..., :-k]
        elif k < 0:
            out[..., :k] = x[..., -k:]
        else:
            out[...] = x
        return out

    def waveform(self, y):
        """One augmented copy of the samples y (..., n)."""
        y = np.asarray(y)
        limit = int(self.max_shift * y.shape[-1])
        out = self._shift(y, int(self.rng.integers(-limit, limit + 1)) if limit else 0)
        if self.snr_db is not None:
            snr = self.rng.uniform(*self.snr_db)
            power = float(np.mean(np.square(out, dtype=np.float64)))
            noise = self.rng.standard_normal(out.shape) * np.sqrt(power / 10 ** (snr / 10))
            out = out + noise.astype(out.dtype)
        return out

    def spectrogram(self, S):
        """Augmented copies of a batch of log-mel inputs (N, 1, n_mels, frames) or one (.., mels, frames)."""
        S = np.asarray(S)
        batch = S.reshape((-1,) + S.shape[-2:])
        out = np.empty_like(batch)
        n_mels, n_frames = batch.shape[-2:]
        limit = int(self.max_shift * n_frames)
        for i, clip in enumerate(batch):
            floor = clip.min()
            clip = self._shift(clip, int(self.rng.integers(-limit, limit + 1)) if limit else 0, floor)
            for _ in range(self.time_masks):
                width = int(self.rng.integers(0, self.time_mask + 1))
                start = int(self.rng.integers(0, max(n_frames - width, 0) + 1))
                clip[:, start:start + width] = floor
            for _ in range(self.freq_masks):
                width = int(self.rng.integers(0, self.freq_mask + 1))
                start = int(self.rng.integers(0, max(n_mels - width, 0) + 1))
                clip[start:start + width, :] = floor
            out[i] = clip
        return out.reshape(S.shape)
