"""Datasets of labelled clips: the Free Spoken Digit Dataset, any folder of class
sub-folders, and synthetic sound events generated in code.

A dataset is a sequence: `dataset[i]` is (samples float32, sample rate, label int),
read or generated when asked for. `classes` names the labels, `labels` holds them
all without reading any audio, and `identity()` describes the contents (files with
their sizes and modification times, or a generator's parameters) for the feature cache.
"""
from __future__ import annotations

import os
import re

import numpy as np

from .io import AUDIO_EXTENSIONS, load


class DatasetError(ValueError):
    """A dataset that cannot be built: missing or empty folder, bad split or speakers."""


class AudioDataset:
    """Clips listed as (path, label) pairs, read on demand."""

    def __init__(self, root, files, labels, classes):
        self.root, self.files = root, list(files)
        self.labels = np.asarray(labels, np.int64)
        self.classes = list(classes)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        samples, sr = load(self.files[i])
        return samples, sr, int(self.labels[i])

    def subset(self, indices):
        """A dataset of the clips at `indices` (same classes)."""
        indices = np.asarray(indices, np.int64)
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.files = [self.files[i] for i in indices]
        view.labels = self.labels[indices]
        for name in self._per_clip:
            setattr(view, name, [getattr(self, name)[i] for i in indices])
        return view

    _per_clip = ()        # per-clip lists that subset() must select too

    def identity(self):
        entries = []
        for path in self.files:
            try:
                st = os.stat(path)
                entries.append([os.path.abspath(path), st.st_size, st.st_mtime_ns])
            except OSError:
                entries.append([os.path.abspath(path), None, None])
        return {"type": type(self).__name__, "files": entries, "labels": self.labels.tolist(),
                "classes": self.classes}

    def describe(self):
        return f"{type(self).__name__} at {self.root} ({len(self)} clips)"

    def kfold(self, k=5, seed=0):
        """Deterministic stratified k-fold split: a list of k (train indices, test indices).

        Each class's clips are shuffled with `seed` and dealt round-robin to the folds, so
        every fold holds about 1/k of every class; the same seed gives the same folds.
        """
        if k < 2:
            raise DatasetError(f"kfold: k must be >= 2, got {k}")
        rng = np.random.default_rng(seed)
        fold_of = np.empty(len(self), np.int64)
        for label in np.unique(self.labels):
            members = np.flatnonzero(self.labels == label)
            fold_of[rng.permutation(members)] = np.arange(len(members)) % k
        return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)]


_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def find_fsdd_recordings(root):
    """The folder holding FSDD's `{digit}_{speaker}_{index}.wav` files (root or root/recordings), or None."""
    for folder in (os.path.join(root, "recordings"), root):
        if os.path.isdir(folder) and any(_FSDD_NAME.match(n) for n in os.listdir(folder)):
            return folder
    return None


class FSDD(AudioDataset):
    """The Free Spoken Digit Dataset: digits 0-9 spoken by several speakers, 8 kHz WAV.

    root     the dataset folder (holding `recordings/`) or the recordings folder itself
    split    "train" (indices 5-49), "test" (indices 0-4, the dataset's official split) or "all"
    speakers None for all, or a list of speaker names to keep
    """

    _per_clip = ("speakers", "indices")

    def __init__(self, root, split="train", speakers=None):
        root = os.fspath(root)
        if split not in ("train", "test", "all"):
            raise DatasetError(f"FSDD: split must be 'train', 'test' or 'all', got {split!r}")
        if not os.path.isdir(root):
            raise DatasetError(f"FSDD: no such folder: {root}")
        folder = find_fsdd_recordings(root)
        if folder is None:
            raise DatasetError(f"FSDD: {root} holds no '{{digit}}_{{speaker}}_{{index}}.wav' recordings")
        entries = []
        for name in sorted(os.listdir(folder)):
            match = _FSDD_NAME.match(name)
            if match:
                digit, speaker, index = int(match[1]), match[2], int(match[3])
                entries.append((digit, speaker, index, os.path.join(folder, name)))
        known = sorted({e[1] for e in entries})
        if speakers is not None:
            speakers = [speakers] if isinstance(speakers, str) else list(speakers)
            unknown = sorted(set(speakers) - set(known))
            if unknown:
                raise DatasetError(f"FSDD: unknown speakers {unknown}; {root} has {known}")
            entries = [e for e in entries if e[1] in speakers]
        if split != "all":
            entries = [e for e in entries if (e[2] < 5) == (split == "test")]
        if not entries:
            raise DatasetError(f"FSDD: no recordings in {root} for split={split!r}, speakers={speakers}")
        entries.sort(key=lambda e: (e[1], e[0], e[2]))
        super().__init__(root, [e[3] for e in entries], [e[0] for e in entries],
                         [str(d) for d in range(10)])
        self.speakers = [e[1] for e in entries]
        self.indices = [e[2] for e in entries]
        self.all_speakers = known


class AudioFolder(AudioDataset):
    """Any folder with one sub-folder per class, holding sound files in any supported
    format, sample rate and length (searched recursively; other files are ignored).

    >>> import autograd_lab as al, numpy as np, os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for cls in ("bird", "car"):
    ...     os.makedirs(os.path.join(root, cls))
    ...     al.audio.save(os.path.join(root, cls, "a.wav"), np.zeros(800, np.float32), 8000)
    >>> data = al.audio.datasets.AudioFolder(root)
    >>> data.classes, len(data)
    (['bird', 'car'], 2)
    """

    def __init__(self, root, extensions=AUDIO_EXTENSIONS):
        root = os.fspath(root)
        if not os.path.isdir(root):
            raise DatasetError(f"AudioFolder: no such folder: {root}")
        classes = sorted(d for d in os.listdir(root)
                         if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
        files, labels = [], []
        for label, name in enumerate(classes):
            for folder, subdirs, names in sorted(os.walk(os.path.join(root, name))):
                subdirs.sort()
                for file in sorted(names):
                    if file.lower().endswith(tuple(extensions)) and not file.startswith("."):
                        files.append(os.path.join(folder, file))
                        labels.append(label)
        if not classes:
            raise DatasetError(f"AudioFolder: {root} has no class sub-folders "
                               "(expected one folder per class holding sound files)")
        if not files:
            raise DatasetError(f"AudioFolder: no sound files ({', '.join(extensions)}) under {root}")
        super().__init__(root, files, labels, classes)


# ---- synthetic sound events -------------------------------------------------------------
SYNTHETIC_CLASSES = ("low tone", "high tone", "rising chirp", "falling chirp", "white noise burst",
                     "brown noise burst", "click train", "harmonic stack", "tremolo tone")
# Bump when the generator changes, so cached features of the old sounds are not reused.
_GENERATOR_VERSION = 1


class SyntheticSounds(AudioDataset):
    """Sound events generated in code, so the main job runs anywhere without data.

    Nine classes (SYNTHETIC_CLASSES): low and high tones, rising and falling chirps,
    white and brown noise bursts, click trains, harmonic stacks and tremolo
    (amplitude-modulated) tones. Each clip places one event of random onset, length
    (0.25-0.7 s), level (-30 to -6 dBFS) and parameters (pitch, sweep, rate) over
    background noise of random colour at 0-20 dB SNR. Pitch ranges overlap between
    classes (a harmonic stack and a low tone share fundamentals), so the task is not
    separable by one number. Clip i of a split is generated from (seed, split, i):
    the same arguments always give the same sounds, and train and test never share one.

    >>> import autograd_lab as al
    >>> data = al.audio.datasets.SyntheticSounds(n_per_class=2)
    >>> len(data), len(data.classes)
    (18, 9)
    >>> samples, sr, label = data[0]
    >>> samples.shape, sr, data.classes[label]
    ((8000,), 8000, 'low tone')
    """

    def __init__(self, n_per_class=60, split="train", sr=8000, duration=1.0, snr_db=(0.0, 20.0), seed=0):
        if split not in ("train", "test"):
            raise DatasetError(f"SyntheticSounds: split must be 'train' or 'test', got {split!r}")
        if n_per_class < 1:
            raise DatasetError(f"SyntheticSounds: n_per_class must be >= 1, got {n_per_class}")
        self.params = {"n_per_class": int(n_per_class), "split": split, "sr": int(sr),
                       "duration": float(duration), "snr_db": list(snr_db), "seed": int(seed),
                       "version": _GENERATOR_VERSION}
        n = n_per_class * len(SYNTHETIC_CLASSES)
        super().__init__("synthetic", [None] * n, np.arange(n) % len(SYNTHETIC_CLASSES), SYNTHETIC_CLASSES)
        self.clip_ids = list(range(n))

    _per_clip = ("clip_ids",)

    def identity(self):
        return {"type": "SyntheticSounds", **self.params, "clip_ids": self.clip_ids}

    def describe(self):
        return f"SyntheticSounds ({len(self)} clips)"

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(f"SyntheticSounds: index {i} out of range for {len(self)} clips")
        p = self.params
        rng = np.random.default_rng([p["seed"], p["split"] == "test", self.clip_ids[i]])
        label = int(self.labels[i])
        return _synthesize(SYNTHETIC_CLASSES[label], rng, p["sr"], p["duration"], p["snr_db"]), p["sr"], label


def _coloured_noise(rng, n, colour):
    """White (flat), pink (1/f power) or brown (1/f^2 power) noise of unit RMS."""
    white = rng.standard_normal(n)
    if colour != "white":
        spectrum = np.fft.rfft(white)
        f = np.maximum(np.arange(len(spectrum)), 1)
        spectrum /= np.sqrt(f) if colour == "pink" else f
        white = np.fft.irfft(spectrum, n)
    return white / (np.sqrt(np.mean(white ** 2)) + 1e-12)


def _synthesize(kind, rng, sr, duration, snr_db):
    n = int(round(sr * duration))
    length = int(rng.uniform(0.25, min(0.7, duration)) * sr)
    onset = int(rng.integers(0, n - length + 1))
    t = np.arange(length) / sr
    nyquist = sr / 2
    if kind == "low tone":
        event = np.sin(2 * np.pi * rng.uniform(150, 400) * t + rng.uniform(0, 2 * np.pi))
    elif kind == "high tone":
        event = np.sin(2 * np.pi * rng.uniform(600, 0.4 * nyquist) * t + rng.uniform(0, 2 * np.pi))
    elif kind in ("rising chirp", "falling chirp"):
        f_low = rng.uniform(200, 600)
        f_high = min(f_low * rng.uniform(2.0, 4.0), 0.8 * nyquist)
        f0, f1 = (f_low, f_high) if kind == "rising chirp" else (f_high, f_low)
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * t[-1]))   # linear sweep
        event = np.sin(phase)
    elif kind == "white noise burst":
        event = _coloured_noise(rng, length, "white")
    elif kind == "brown noise burst":
        event = _coloured_noise(rng, length, "brown")
    elif kind == "click train":
        event = np.zeros(length)
        period = int(sr / rng.uniform(8, 30))
        event[rng.integers(0, period)::period] = 1.0
        event = np.convolve(event, np.hanning(9), mode="same")              # short clicks, not single samples
    elif kind == "harmonic stack":
        f0 = rng.uniform(150, 400)
        harmonics = np.arange(1, int(rng.integers(4, 9)) + 1)
        harmonics = harmonics[harmonics * f0 < 0.9 * nyquist]
        event = sum(np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)) / h for h in harmonics)
    elif kind == "tremolo tone":
        carrier = np.sin(2 * np.pi * rng.uniform(250, 1000) * t)
        depth = rng.uniform(0.7, 1.0)
        event = carrier * (1 - depth * 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(5, 12) * t)))
    else:
        raise ValueError(f"unknown synthetic class {kind!r}")
    fade = min(int(0.01 * sr), length // 2)                                    # 10 ms ramps, no clicks
    envelope = np.ones(length)
    envelope[:fade] = np.linspace(0, 1, fade)
    envelope[length - fade:] = np.linspace(1, 0, fade)
    event = event * envelope
    event *= 10 ** (rng.uniform(-30, -6) / 20) / (np.sqrt(np.mean(event ** 2)) + 1e-12)
    clip = np.zeros(n)
    clip[onset:onset + length] = event
    event_power = np.mean(event ** 2) * length / n
    background = _coloured_noise(rng, n, rng.choice(["white", "pink", "brown"]))
    clip += background * np.sqrt(event_power / 10 ** (rng.uniform(*snr_db) / 10))
    return np.clip(clip, -1, 1).astype(np.float32)
