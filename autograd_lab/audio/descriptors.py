"""Clip descriptors: one vector per recording of what a listener would name about a note.

A spectrogram CNN learns the one recording of each instrument it was trained on; what carries
over to another recording of the same instrument (docs/audio.md, "Clip descriptors") is
less the image than a few measurements of it. `DescriptorConfig.describe(y, sr)` turns a clip
of any length into `DescriptorConfig.names()`:

  * timbre (``mfcc*``): MFCCs 1..n_mfcc-1 of the clip's log-mel spectrogram, their mean and
    spread over the loud frames (within `loud_db` of the loudest; MFCC 0, the level, left out);
  * harmonic profile (``h*``): the levels of harmonics 1..n_harmonics relative to the loudest
    of them, read off a constant-Q spectrogram (`bins_per_octave` bins to the octave) at each
    frame's fundamental, found by a harmonic sum and median-filtered over five frames; mean
    and spread over the loud frames. It does not move with the note played, as a spectrogram
    does. The CQT's 3 dB per octave tilt (librosa's scaling) is taken out, so equal harmonics
    read equal;
  * envelope (``env_*``): the share of frames within 20 dB of the loudest, the 5th and 95th
    percentile, mean size and spread of the frame-to-frame change in level.

Every part is plain numpy on this package's librosa-equivalent features, so the numbers match
what librosa's melspectrogram, mfcc and cqt give. `extract_descriptors` computes a dataset's
descriptors (in worker processes for large data) and caches them like `extract_clips` does
the spectrograms, keyed by the config and every file's path, size and time.

>>> import autograd_lab as al, numpy as np
>>> sr = 22050
>>> t = np.arange(sr) / sr
>>> tone = sum(0.5 ** k * np.sin(2 * np.pi * 220.0 * k * t) for k in range(1, 6))   # harmonics -6 dB each
>>> config = al.audio.DescriptorConfig()
>>> v = config.describe(tone, sr)
>>> len(v) == len(config.names())
True
>>> levels = v[config.names().index("h1_mean"):][:5]
>>> np.round(levels / 6).tolist()              # harmonics 1..5: 0, -6, -12, -18, -24 dB, to a dB or so
[0.0, -1.0, -2.0, -3.0, -4.0]
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings

import numpy as np

from .features import melspectrogram, mfcc, power_to_db
from .io import AudioFileError

#: Bump when the computation changes, so cached descriptors are recomputed.
DESCRIPTOR_VERSION = 1


@dataclasses.dataclass(frozen=True)
class DescriptorConfig:
    """How a clip becomes a descriptor vector (see the module's docstring).

    sr, n_fft, hop_length, n_mels   the log-mel analysis (MFCCs) after resampling to `sr`
    n_mfcc                          MFCCs 0..n_mfcc-1 computed, 1..n_mfcc-1 kept
    bins_per_octave, octaves, fmin  the constant-Q analysis (fmin in Hz: C2 by default)
    n_harmonics                     harmonics read off at the fundamental
    loud_db                         frames within this many dB of the loudest are described
    """
    sr: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 64
    n_mfcc: int = 20
    bins_per_octave: int = 36
    octaves: int = 7
    fmin: float = 65.40639132514966           # C2
    n_harmonics: int = 16
    loud_db: float = 30.0
    version: int = DESCRIPTOR_VERSION

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d) -> "DescriptorConfig":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def names(self) -> list:
        """The name of each descriptor, in the vector's order."""
        mf = range(1, self.n_mfcc)
        h = range(1, self.n_harmonics + 1)
        return ([f"mfcc{i}_mean" for i in mf] + [f"mfcc{i}_std" for i in mf]
                + [f"h{k}_mean" for k in h] + [f"h{k}_std" for k in h]
                + ["env_share_within_20dB", "env_change_p5", "env_change_p95", "env_change_mean_abs",
                   "env_change_std"])

    def groups(self) -> dict:
        """{"mfcc" | "harmonics" | "envelope": slice of the vector}."""
        m, h = 2 * (self.n_mfcc - 1), 2 * self.n_harmonics
        return {"mfcc": slice(0, m), "harmonics": slice(m, m + h), "envelope": slice(m + h, m + h + 5)}

    @property
    def harmonic_bins(self) -> np.ndarray:
        """Constant-Q bins of harmonics 1..n_harmonics above the fundamental's bin."""
        return np.round(self.bins_per_octave * np.log2(np.arange(1, self.n_harmonics + 1))).astype(int)

    def describe(self, y, sr) -> np.ndarray:
        """The descriptor vector (float32) of one clip of samples at rate `sr`."""
        from .io import resample
        y = resample(np.asarray(y, np.float32), sr, self.sr).astype(np.float64)
        rms = float(np.sqrt(np.mean(y ** 2))) if y.size else 0.0
        y = y * (0.1 / max(rms, 1e-8))
        if y.size < self.n_fft:
            y = np.pad(y, (0, self.n_fft - y.size))
        mel = melspectrogram(y, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels)
        mel_db = power_to_db(mel, top_db=80.0)
        loud = mel_db.max(0) > mel_db.max() - self.loud_db
        coefficients = mfcc(S=mel_db, n_mfcc=self.n_mfcc)[1:, loud]
        cqt_db = self.cqt_db(y, self.sr)
        cqt_loud = np.flatnonzero(cqt_db.max(0) > cqt_db.max() - self.loud_db)
        harmonics = self.harmonic_profile(cqt_db, cqt_loud)
        level = 10 * np.log10(mel.sum(0) + 1e-10)
        level -= level.max()
        change = np.diff(level) if len(level) > 1 else np.zeros(1)
        envelope = [np.mean(level > -20), np.percentile(change, 5), np.percentile(change, 95),
                    np.mean(np.abs(change)), np.std(change)]
        return np.concatenate([coefficients.mean(1), coefficients.std(1), harmonics.mean(0), harmonics.std(0),
                               envelope]).astype(np.float32)

    def fundamental_bins(self, level_db, n_harmonics=6, with_salience=False):
        """Per frame, the constant-Q bin whose first `n_harmonics` harmonics are loudest on
        average (a harmonic sum), median-filtered over 5 frames against octave slips. With
        `with_salience`, also each frame's salience: that harmonic sum at its best bin less
        the frame's median level (dB; a pitched sound stands 20-40 dB out, a noise a few)."""
        from scipy.ndimage import median_filter
        offsets = self.harmonic_bins[:n_harmonics]
        n_bins = level_db.shape[0]
        usable = n_bins - offsets[-1]
        score = np.mean([level_db[o:o + usable] for o in offsets], axis=0)
        f0 = median_filter(score.argmax(0), size=5, mode="nearest")
        if not with_salience:
            return f0
        return f0, score.max(0) - np.median(level_db, axis=0)

    def cqt_db(self, y, sr) -> np.ndarray:
        """The log constant-Q spectrogram (dB, 80 dB range) of a clip, as `describe` reads it."""
        from .io import resample
        from .music import cqt_magnitude
        y = resample(np.asarray(y, np.float32), sr, self.sr).astype(np.float64)
        y = y * (0.1 / max(float(np.sqrt(np.mean(y ** 2))) if y.size else 0.0, 1e-8))
        if y.size < self.n_fft:
            y = np.pad(y, (0, self.n_fft - y.size))
        C = cqt_magnitude(y, sr=self.sr, hop_length=self.hop_length, fmin=self.fmin,
                          n_bins=self.octaves * self.bins_per_octave, bins_per_octave=self.bins_per_octave)
        return power_to_db(C ** 2, top_db=80.0)

    def held_pitch_share(self, y, sr, span=0.2, salience_db=10.0) -> float:
        """The share of a clip's loud frames that hold a steady pitch: a salient harmonic sum
        (`salience_db` above the frame's median level) whose fundamental stays within one
        constant-Q bin (a third of a semitone at 36 bins per octave) for `span` seconds
        around the frame. Notes played on an instrument are held; speech glides between
        pitches, noises have none."""
        from scipy.ndimage import maximum_filter1d, minimum_filter1d
        level_db = self.cqt_db(y, sr)
        f0, salience = self.fundamental_bins(level_db, with_salience=True)
        loud = level_db.max(0) > level_db.max() - self.loud_db
        width = max(int(round(span * self.sr / self.hop_length)), 1)
        steady = (maximum_filter1d(f0, width, mode="nearest") - minimum_filter1d(f0, width, mode="nearest")) <= 1
        held = steady & (salience > salience_db)
        return float(held[loud].mean()) if loud.any() else 0.0

    def harmonic_profile(self, level_db, frames, floor_db=-60.0) -> np.ndarray:
        """(len(frames), n_harmonics): the levels (dB) of harmonics 1..n_harmonics relative to
        the loudest of them, at each frame's fundamental; a harmonic above the top of the
        spectrogram counts as `floor_db`. The CQT divides each bin by the square root of its
        filter's length, so a sinusoid reads 3 dB lower per octave up: added back here."""
        frames = np.asarray(frames, np.int64)
        if not len(frames):
            return np.full((1, self.n_harmonics), floor_db)
        f0 = self.fundamental_bins(level_db)[frames]
        bins = f0[:, None] + self.harmonic_bins[None, :]
        inside = bins < level_db.shape[0]
        levels = np.where(inside, level_db[np.minimum(bins, level_db.shape[0] - 1), frames[:, None]]
                          + 10 * np.log10(np.arange(1, self.n_harmonics + 1)), -np.inf)
        return np.maximum(levels - levels.max(axis=1, keepdims=True), floor_db)


# ---- a dataset's descriptors, cached ---------------------------------------------------------
@dataclasses.dataclass
class Descriptors:
    """The descriptor vectors of a dataset's readable clips: X (N, D) float32, y (N,) labels,
    kept (N,) the dataset indices they come from."""
    X: np.ndarray
    y: np.ndarray
    kept: np.ndarray

    def __len__(self):
        return len(self.y)

    def subset(self, indices) -> "Descriptors":
        indices = np.asarray(indices, np.int64)
        return Descriptors(self.X[indices], self.y[indices], self.kept[indices])


def extract_descriptors(dataset, config: DescriptorConfig | None = None, cache_dir=None, use_cache=True,
                        strict=False, progress=True, workers=None) -> Descriptors:
    """The descriptors of every clip of `dataset`, cached under cache_dir/descriptors (default:
    prepare.default_cache_dir()), keyed like `extract_clips` (the config and the dataset's
    identity: each file's path, size and modification time). Unreadable clips are skipped with
    a warning, or raise with strict=True; 200 clips or more are computed by `workers`
    processes (default: one per core, at most 8)."""
    from .. import io
    from .prepare import _compute_clips, default_cache_dir
    config = config or DescriptorConfig()
    key_text = json.dumps({"config": config.to_dict(), "dataset": dataset.identity(), "strict": bool(strict),
                           "layout": "descriptors-1"}, sort_keys=True)
    path = None
    if use_cache:
        folder = os.path.join(cache_dir or default_cache_dir(), "descriptors")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, hashlib.sha256(key_text.encode()).hexdigest()[:32] + ".npz")
        if os.path.exists(path):
            try:
                arrays, meta = io.load(path, with_metadata=True)
                if meta.get("key") == key_text:
                    for warning in meta.get("warnings", []):
                        warnings.warn(warning, stacklevel=2)
                    return Descriptors(arrays["X"], arrays["y"], arrays["kept"])
            except io.CheckpointError:
                pass                                # a damaged cache entry is recomputed
    n = len(dataset)
    results = _compute_clips(dataset, config, strict, progress, workers, compute="describe", desc="descriptors",
                             chunk=16)
    rows, labels, kept, skipped = [], [], [], []
    for i, vector, label, problem in results:
        if problem is not None:
            skipped.append(problem)
            warnings.warn(problem, stacklevel=2)
            continue
        rows.append(vector)
        labels.append(label)
        kept.append(i)
    if not rows:
        raise AudioFileError(f"{dataset.describe()}: none of its {n} clips could be read")
    found = Descriptors(np.stack(rows).astype(np.float32), np.asarray(labels, np.int64), np.asarray(kept, np.int64))
    if path is not None:
        io.save({"X": found.X, "y": found.y, "kept": found.kept}, path, metadata={"key": key_text,
                                                                                 "warnings": skipped})
    return found


# ---- is a folder music? ----------------------------------------------------------------------
#: A clip holds notes when at least this share of its loud frames holds a steady pitch ...
HELD_CLIP_SHARE = 0.5
#: ... and a data set is music-like when at least this share of the clips looked at do.
MUSIC_FOLDER_SHARE = 0.75


LIKENESS_SECONDS = 10.0


def music_likeness(dataset, max_clips=32, seed=0, config: DescriptorConfig | None = None) -> tuple[bool, str]:
    """(music-like?, why): whether the clips of `dataset` hold notes, judged on up to
    `max_clips` clips spread evenly over the classes (`DescriptorConfig.held_pitch_share`):
    music-like when MUSIC_FOLDER_SHARE of them hold a steady pitch for HELD_CLIP_SHARE of
    their loud frames. Costs about 0.1 s per 3-s clip; of a longer recording only the middle
    LIKENESS_SECONDS are looked at, so a folder of long files is judged as fast."""
    config = config or DescriptorConfig()
    labels = np.asarray(dataset.labels)
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == k)) for k in range(len(dataset.classes))]
    order = [int(i) for row in range(max(map(len, per_class), default=0)) for members in per_class
             if row < len(members) for i in members[row:row + 1]][:max_clips]
    shares = []
    for i in order:
        try:
            samples, sr, _ = dataset[i]
        except AudioFileError:
            continue
        keep = int(LIKENESS_SECONDS * sr)
        if len(samples) > keep:
            start = (len(samples) - keep) // 2
            samples = samples[start:start + keep]
        shares.append(config.held_pitch_share(samples, sr))
    if not shares:
        return False, "no clip could be read"
    shares = np.asarray(shares)
    held = int((shares >= HELD_CLIP_SHARE).sum())
    verdict = held >= MUSIC_FOLDER_SHARE * len(shares)
    why = (f"{held} of {len(shares)} clips looked at hold steady pitched notes for at least "
           f"{HELD_CLIP_SHARE:.0%} of their sound (median {np.median(shares):.0%}; music-like from "
           f"{MUSIC_FOLDER_SHARE:.0%} of the clips)")
    return bool(verdict), why
