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

from .features import log_melspectrogram, power_to_db
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


#: The spectrogram a FeatureConfig computes: "mel" (log-mel, for speech and sound events) or
#: "cqt" (log constant-Q, one row per semitone: a pitch change moves a note along the rows).
FRONT_ENDS = ("mel", "cqt")
#: What fills the window around a clip shorter than `duration`: "silence" (zeros before the
#: spectrogram: the floor, 80 dB down) or "floor" (each band's own noise floor, taken from the
#: clip: a noisy recording then shows no edges, which a classifier could learn instead of the sound).
PADS = ("silence", "floor")


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """How a clip becomes a log-spectrogram input (1, bands, frames).

    Resample to `sr`, normalise the RMS level to `loudness_db` dBFS, pad or crop to
    `duration` seconds, then power_to_db(melspectrogram(...)) with these parameters.
    With front_end="cqt" the spectrogram is power_to_db(|cqt|**2) instead: `n_bins` bins,
    `bins_per_octave` to the octave, from `fmin` (0: C1, librosa's default) with
    `hop_length`; n_fft, n_mels, fmax, htk and norm are then unused. `pad` says what fills
    the window around a shorter clip (PADS).

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
    front_end: str = "mel"
    n_bins: int = 84
    bins_per_octave: int = 12
    pad: str = "silence"

    def __post_init__(self):
        if self.front_end not in FRONT_ENDS:
            raise ValueError(f"FeatureConfig: front_end must be one of {FRONT_ENDS}, got {self.front_end!r}")
        if self.pad not in PADS:
            raise ValueError(f"FeatureConfig: pad must be one of {PADS}, got {self.pad!r}")

    @property
    def n_bands(self) -> int:
        """Rows of the spectrogram: mel bands, or CQT bins."""
        return self.n_mels if self.front_end == "mel" else self.n_bins

    @property
    def n_samples(self) -> int:
        return int(round(self.sr * self.duration))

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples // self.hop_length

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["pad"] == "silence":       # as before `pad` existed: older cache keys and checkpoints stay valid
            del d["pad"]
        return d

    @classmethod
    def from_dict(cls, d) -> "FeatureConfig":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def band_frequencies(self) -> np.ndarray:
        """Centre frequencies (Hz) of the mel bands, as the filter bank places them."""
        from .features import mel_frequencies
        return mel_frequencies(self.n_mels + 2, fmin=self.fmin, fmax=self.fmax or self.sr / 2,
                               htk=self.htk)[1:-1]

    def waveform(self, y, sr) -> np.ndarray:
        """Resampled, loudness-normalised and fixed-length samples (float32)."""
        from .io import resample
        y = resample(np.asarray(y, np.float32), sr, self.sr)
        return fix_length(normalize_loudness(y, self.loudness_db), self.n_samples)

    def log_mel(self, y) -> np.ndarray:
        """(n_bands, frames) float32 of samples already at `sr`: the log-mel spectrogram, or
        the log-CQT with front_end="cqt"."""
        if self.front_end == "cqt":
            from .music import cqt_magnitude
            C = cqt_magnitude(np.asarray(y, np.float32), sr=self.sr, hop_length=self.hop_length,
                              fmin=self.fmin or None, n_bins=self.n_bins, bins_per_octave=self.bins_per_octave)
            return power_to_db(np.square(C), top_db=self.top_db).astype(np.float32)
        return log_melspectrogram(y, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length,
                                  n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, htk=self.htk,
                                  norm=self.norm, top_db=self.top_db).astype(np.float32)

    def features(self, y, sr) -> np.ndarray:
        """The log-mel input (1, n_mels, frames), float32, from samples at rate `sr`
        (padded or cropped to `duration`, keeping the middle)."""
        if self.pad == "floor":
            from .io import resample
            y = normalize_loudness(resample(np.asarray(y, np.float32), sr, self.sr), self.loudness_db)
            if y.shape[-1] < self.n_samples:
                return self._padded_log_mel(y)[None]
            return self.log_mel(fix_length(y, self.n_samples))[None]
        return self.log_mel(self.waveform(y, sr))[None]

    def clip_features(self, y, sr) -> np.ndarray:
        """(n_mels, frames) of the whole clip: resampled, loudness-normalised, and centred in
        silence when shorter than `duration`, so there are at least n_frames frames."""
        from .io import resample
        y = normalize_loudness(resample(np.asarray(y, np.float32), sr, self.sr), self.loudness_db)
        if y.shape[-1] < self.n_samples:
            return self._padded_log_mel(y)
        return self.log_mel(y)

    def _padded_log_mel(self, y) -> np.ndarray:
        """log_mel of a clip shorter than `duration`, centred in silence; with pad="floor" the
        frames of the padding then take each band's 10th percentile over the clip's own
        frames (its noise floor), so where the recording starts and ends is not visible."""
        S = self.log_mel(fix_length(y, self.n_samples))
        if self.pad == "floor":
            before = (self.n_samples - y.shape[-1]) // 2
            centres = np.arange(S.shape[-1]) * self.hop_length
            inside = (centres >= before) & (centres < before + y.shape[-1])
            if inside.any():
                S[..., ~inside] = np.percentile(S[..., inside], 10, axis=-1, keepdims=True)
        return S


def default_cache_dir() -> str:
    """$AUTOGRAD_LAB_CACHE_DIR, else $XDG_CACHE_HOME/autograd_lab, else ~/.cache/autograd_lab."""
    root = os.environ.get("AUTOGRAD_LAB_CACHE_DIR")
    if root:
        return root
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "autograd_lab")


def _clip_features(args):
    """Worker: `config.<compute>(samples, sr)` (log-mel frames unless told otherwise) of the clips
    at `indices` (picklable, for the process pool)."""
    dataset, config, indices, strict, compute = args
    out = []
    for i in indices:
        try:
            samples, sr, label = dataset[i]
        except AudioFileError as exc:
            if strict:
                raise
            out.append((i, None, None, f"skipped unreadable clip: {exc}"))
            continue
        out.append((i, getattr(config, compute)(samples, sr), label, None))
    return out


#: Below this many clips, features are computed in this process (a pool costs ~1 s to start).
PARALLEL_MIN_CLIPS = 200


def _compute_clips(dataset, config, strict, progress, workers, compute="clip_features", desc="features",
                   chunk=32):
    """[(index, config.<compute>(samples, sr), label, problem)] over the clips, in a process pool
    from PARALLEL_MIN_CLIPS clips; an unreadable clip gives a problem (or raises with strict)."""
    from tqdm.auto import tqdm
    n = len(dataset)
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    chunks = [list(range(start, min(start + chunk, n))) for start in range(0, n, chunk)]
    bar = tqdm(total=n, desc=desc, unit="clip", leave=False, disable=not progress)
    results = []
    if workers > 1 and n >= PARALLEL_MIN_CLIPS:
        import concurrent.futures as cf
        import multiprocessing
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                              else None)
        with cf.ProcessPoolExecutor(workers, mp_context=context) as pool:
            for part in pool.map(_clip_features, [(dataset, config, c, strict, compute) for c in chunks]):
                results.extend(part)
                bar.update(len(part))
    else:
        for indices in chunks:
            part = _clip_features((dataset, config, indices, strict, compute))
            results.extend(part)
            bar.update(len(part))
    bar.close()
    return results


class Clips:
    """The log-mel frames of whole clips of any length, and windows of `n_frames` from them.

    frames   (n_mels, total frames) float32: every clip's frames, one after the other
    offsets  (N + 1,) clip i is frames[:, offsets[i]:offsets[i + 1]]
    y, kept  labels, and the dataset indices the clips came from

    A clip shorter than the window was centred in silence before its spectrogram was
    taken, so every clip has at least `n_frames` frames.
    """

    def __init__(self, frames, offsets, y, kept, n_frames):
        self.frames, self.offsets = frames, np.asarray(offsets, np.int64)
        self.y, self.kept = np.asarray(y, np.int64), np.asarray(kept, np.int64)
        self.n_frames = int(n_frames)

    def __len__(self):
        return len(self.y)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def clip(self, i) -> np.ndarray:
        return self.frames[:, self.offsets[i]:self.offsets[i + 1]]

    def subset(self, indices) -> "Clips":
        indices = np.asarray(indices, np.int64)
        parts = [self.clip(i) for i in indices]
        offsets = np.concatenate([[0], np.cumsum([p.shape[1] for p in parts], dtype=np.int64)])
        frames = np.concatenate(parts, axis=1) if parts else self.frames[:, :0]
        return Clips(frames, offsets, self.y[indices], self.kept[indices], self.n_frames)

    def window_starts(self, i, hop=None) -> list:
        """Starts of the windows that cover clip i: every `hop` frames (half a window), the
        last one ending at the clip's end."""
        length, w = int(self.lengths[i]), self.n_frames
        hop = hop or max(w // 2, 1)
        starts = list(range(0, max(length - w, 0) + 1, hop))
        if starts[-1] + w < length:
            starts.append(length - w)
        return starts

    def windows(self, i, hop=None) -> np.ndarray:
        """All windows of clip i (W, 1, n_mels, n_frames)."""
        clip = self.clip(i)
        return np.stack([clip[None, :, s:s + self.n_frames] for s in self.window_starts(i, hop)])

    def centre(self, indices=None) -> np.ndarray:
        """One window per clip, from its middle: (N, 1, n_mels, n_frames)."""
        indices = range(len(self)) if indices is None else indices
        out = []
        for i in indices:
            start = (int(self.lengths[i]) - self.n_frames) // 2
            out.append(self.clip(i)[None, :, start:start + self.n_frames])
        return np.stack(out) if out else np.zeros((0, 1, self.frames.shape[0], self.n_frames), np.float32)

    def random_windows(self, indices, rng) -> np.ndarray:
        """One window per clip at a random position (training crops of long clips)."""
        out = []
        for i in indices:
            start = int(rng.integers(0, int(self.lengths[i]) - self.n_frames + 1))
            out.append(self.clip(i)[None, :, start:start + self.n_frames])
        return np.stack(out)


def extract_clips(dataset, config: FeatureConfig, cache_dir=None, use_cache=True, strict=False,
                  progress=True, workers=None) -> Clips:
    """Log-mel frames of every whole clip (`Clips`), cached.

    A clip that cannot be read is skipped with a warning naming the file, or raises
    with strict=True. Large datasets are computed by a pool of `workers` processes
    (default: one per core).

    With use_cache, the result is stored under `cache_dir` (default_cache_dir()/features)
    keyed by a digest of the feature config and of the dataset's identity (each file's
    path, size and modification time, or a generator's parameters), and the full key is
    compared again on reading, so features are reused only when every input is unchanged.
    """
    from .. import io

    key = {"config": config.to_dict(), "dataset": dataset.identity(), "strict": bool(strict),
           "layout": "clips-1"}
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
                    return Clips(arrays["frames"], arrays["offsets"], arrays["y"], arrays["kept"],
                                 config.n_frames)
            except io.CheckpointError:
                pass                                # a damaged cache entry is recomputed
    parts, labels, kept, skipped = [], [], [], []
    for i, frames, label, problem in _compute_clips(dataset, config, strict, progress, workers):
        if problem is not None:
            skipped.append(problem)
            warnings.warn(problem, stacklevel=2)
            continue
        parts.append(frames)
        labels.append(label)
        kept.append(i)
    if not parts:
        raise AudioFileError(f"{dataset.describe()}: none of its {len(dataset)} clips could be read")
    offsets = np.concatenate([[0], np.cumsum([p.shape[1] for p in parts], dtype=np.int64)])
    clips = Clips(np.concatenate(parts, axis=1), offsets, labels, kept, config.n_frames)
    if path is not None:
        io.save({"frames": clips.frames, "offsets": clips.offsets, "y": clips.y, "kept": clips.kept}, path,
                metadata={"key": key_text, "warnings": skipped})
    return clips


def extract_features(dataset, config: FeatureConfig, cache_dir=None, use_cache=True, strict=False,
                     progress=True, workers=None):
    """Log-mel features of every clip -> (X (N, 1, n_mels, frames) float32, y (N,) int64, kept).

    One window of `config.duration` per clip, from its middle (see `extract_clips` for
    whole clips, the cache and the handling of unreadable files). `kept` holds the
    dataset indices that were used.
    """
    clips = extract_clips(dataset, config, cache_dir, use_cache, strict, progress, workers)
    return clips.centre(), clips.y, clips.kept


# ---- input normalisation ------------------------------------------------------------------
#: How log-mel inputs are scaled before the network (stored in checkpoints):
#: "global" one mean and std from the training set; "clip" each window by its own mean and
#: std (loudness and gain do not matter); "band" each mel band of each window minus its mean
#: over time, then divided by the window's remaining spread (a fixed microphone or room
#: colouring, a constant offset per band in dB, is removed: cepstral mean normalisation);
#: "cmvn" each band minus its mean and divided by its own spread over time (+ 1 dB, so a
#: nearly constant band is not blown up): cepstral mean and variance normalisation.
NORMALIZATIONS = ("global", "clip", "band", "cmvn")
#: dB added to each band's spread under "cmvn".
CMVN_FLOOR_DB = 1.0


def normalize_input(X, mode="band", mean=0.0, std=1.0) -> np.ndarray:
    """Scale log-mel windows (..., n_mels, frames) as `mode` says (see NORMALIZATIONS).

    >>> import autograd_lab as al, numpy as np
    >>> X = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    >>> Z = al.audio.prepare.normalize_input(X, "band")     # each band minus its mean, over the spread
    >>> np.round(Z[0, 0, :, 0].astype(float), 3).tolist()  # -1.5 / (sqrt(1.25) + 1e-3)
    [-1.34, -1.34, -1.34]
    """
    X = np.asarray(X, np.float32)
    if mode == "global":
        return ((X - mean) / std).astype(np.float32)
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalize_input: mode must be one of {NORMALIZATIONS}, got {mode!r}")
    # the mean accumulated in float64: of equal values (a silent window) it is that value
    # exactly, so silence centres to exactly 0, as the exported ONNX graph gives; numpy's
    # float32 mean can be an ulp off, which the 1e-3 floor below turned into 0.0076 per bin
    axes = (-2, -1) if mode == "clip" else -1
    centred = X - X.mean(axis=axes, keepdims=True, dtype=np.float64).astype(np.float32)
    if mode == "cmvn":
        spread = np.sqrt(np.mean(np.square(centred), axis=-1, keepdims=True)) + CMVN_FLOOR_DB
    else:
        spread = np.sqrt(np.mean(np.square(centred), axis=(-2, -1), keepdims=True)) + 1e-3   # dB; silence stays finite
    return (centred / spread).astype(np.float32)


def _resample_axis(clip, positions, axis, fill):
    """Linear interpolation of `clip` at fractional `positions` along `axis`; outside -> fill."""
    n = clip.shape[axis]
    inside = (positions >= 0) & (positions <= n - 1)
    p = np.clip(positions, 0, n - 1)
    low = np.floor(p).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    frac = (p - low).astype(clip.dtype)
    a, b = np.take(clip, low, axis=axis), np.take(clip, high, axis=axis)
    shape = [1, 1]
    shape[axis] = -1
    out = a + (b - a) * frac.reshape(shape)
    return np.where(inside.reshape(shape), out, fill).astype(clip.dtype)


class Augment:
    """Seeded augmentation of waveforms and of log-mel spectrograms.

    waveform(y): a random time shift of up to `max_shift` of the length (not circular:
    silence comes in at the edge), and white noise at a random SNR in `snr_db`.
    spectrogram(S): optionally a random gain (`gain_db`: +-dB), a random colouring (`eq_db`:
    a smooth curve over the mel bands, a tilt plus one slow ripple, within +-eq_db; another
    microphone, room or voice timbre), a random filter (`filter_db`: a low-pass or
    high-pass roll-off of 3-24 dB per octave from a random cut-off band, down by at most
    filter_db; a duller or thinner recording), a random noise floor (`noise_db`: a pair
    (low, high): steady noise of a random colour, from white to brown (-6 dB per octave),
    whose loudest band lies a random low..high dB below the window's loudest bin, with the
    frame-to-frame flutter of real noise; another microphone or room: a recording's own
    silence is never digital silence), a random reverberation (`reverb`: the
    power smeared forward in time by an exponential tail of a random decay time (RT60)
    up to `reverb` seconds, at a random level of up to 0 dB against the direct sound;
    frames last `frame_seconds`), a time stretch (`stretch`:
    a factor drawn log-uniformly from (low, high), about the centre; a faster or slower
    speaker) and a warp of the frequency axis (`warp`: a factor in 1 +- warp; a longer or
    shorter vocal tract, a brighter or duller source: with `band_hz`, the mel bands' centre
    frequencies, every frequency is scaled by the factor (vocal-tract-length perturbation);
    without, the band numbers are), a pitch shift (`pitch_shift`: a pair
    (semitones, bins per semitone): the rows of a constant-Q input moved by a random whole
    number of semitones within +-semitones, a transposition), then the same time shift in
    frames, then SpecAugment-style masks: `time_masks` bands of up to `time_mask` frames
    and `freq_masks` bands of up to `freq_mask` mel bins, set to the clip's minimum
    (silence in dB). The same seed gives the same sequence of augmentations.

    >>> import numpy as np, autograd_lab as al
    >>> S = np.zeros((2, 1, 8, 20), np.float32) + np.arange(20)
    >>> a, b = al.audio.Augment(seed=1), al.audio.Augment(seed=1)
    >>> bool(np.array_equal(a.spectrogram(S), b.spectrogram(S)))
    True
    """

    def __init__(self, max_shift=0.1, snr_db=(10.0, 40.0), time_masks=1, time_mask=6, freq_masks=1,
                 freq_mask=4, seed=0, gain_db=None, stretch=None, warp=None, eq_db=None, filter_db=None,
                 reverb=None, frame_seconds=None, band_hz=None, pitch_shift=None, noise_db=None):
        if reverb and not frame_seconds:
            raise ValueError("Augment: reverb needs frame_seconds (hop_length / sr) to know how fast frames pass")
        self.max_shift, self.snr_db = max_shift, snr_db
        self.gain_db, self.stretch, self.warp, self.eq_db = gain_db, stretch, warp, eq_db
        self.filter_db, self.reverb, self.frame_seconds = filter_db, reverb, frame_seconds
        self.band_hz = None if band_hz is None else np.asarray(band_hz, np.float64)
        self.pitch_shift, self.noise_db = pitch_shift, noise_db
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

    def _filter_curve(self, n_mels):
        """dB per mel band of a random low-pass (or, one time in three, high-pass) roll-off.
        Mel bands are roughly log-spaced above 1 kHz, so a roll-off in dB per octave is
        close to linear in bands there; 12 bands of 64 are taken as an octave."""
        band = np.arange(n_mels, dtype=np.float64)
        cutoff = self.rng.uniform(0.3, 1.0) * n_mels
        slope = self.rng.uniform(3, 24) / (12 * n_mels / 64)    # dB per octave -> dB per band
        beyond = band - cutoff
        if self.rng.uniform() < 1 / 3:
            cutoff = self.rng.uniform(0.0, 0.3) * n_mels
            beyond = cutoff - band
        return -np.clip(beyond * slope, 0, self.filter_db * self.rng.uniform(0.3, 1.0))

    def _noise_floor(self, clip):
        """A log-power (dB) spectrogram with steady coloured noise added (see `noise_db`)."""
        n_mels, n_frames = clip.shape
        if self.band_hz is not None and len(self.band_hz) == n_mels:
            octaves = np.log2(np.maximum(self.band_hz, 50.0) / max(self.band_hz[0], 50.0))
        else:                                   # band numbers: about 12 bands of 64 to the octave
            octaves = np.arange(n_mels) * 64.0 / (12 * n_mels)
        colour = -self.rng.uniform(0.0, 6.0) * octaves           # dB: white (0) to brown (-6 per octave)
        level = clip.max() - self.rng.uniform(*self.noise_db)
        # noise power in a band fluctuates from frame to frame (a gamma of shape 4: +-50 %)
        flutter = self.rng.gamma(4.0, 1 / 4.0, size=(n_mels, n_frames))
        noise = 10.0 ** ((level + colour - colour.max())[:, None] / 10) * flutter
        return (10 * np.log10(10.0 ** (clip.astype(np.float64) / 10) + noise)).astype(clip.dtype)

    def _reverberate(self, clip):
        """A log-power (dB) spectrogram with an exponentially decaying tail added: each frame's
        power rings on with an RT60 (60-dB decay) drawn from (0.1 s, reverb) at a level of
        -20..0 dB against the direct sound (a first-order recursion per band)."""
        from scipy.signal import lfilter
        rt60 = self.rng.uniform(0.1, max(self.reverb, 0.1))
        decay = 10.0 ** (-6.0 * self.frame_seconds / rt60)      # power ratio per frame
        level = 10.0 ** (self.rng.uniform(-20.0, 0.0) / 10)
        power = 10.0 ** (clip.astype(np.float64) / 10)
        above_floor = power - power.min()           # the floor (silence after top_db) does not ring
        tail = lfilter([0.0, 1.0 - decay], [1.0, -decay], above_floor, axis=1)   # unit-energy tail, one frame late
        return (10 * np.log10(power + level * tail)).astype(clip.dtype)

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
            if self.noise_db:                  # first: the noise is in the recording, under what follows
                clip = self._noise_floor(clip)
            floor = clip.min()
            if self.gain_db:
                clip = clip + np.float32(self.rng.uniform(-self.gain_db, self.gain_db))
                floor = clip.min()
            if self.eq_db:
                band = np.linspace(-1, 1, n_mels)
                tilt, ripple = self.rng.uniform(-1, 1, 2)
                curve = tilt * band + ripple * np.cos(np.pi * (band + 1) * self.rng.uniform(1, 3)
                                                      + self.rng.uniform(0, 2 * np.pi))
                curve *= self.eq_db / max(np.abs(curve).max(), 1e-6) * self.rng.uniform(0, 1)
                clip = np.maximum(clip + curve.astype(clip.dtype)[:, None], floor)
            if self.filter_db:
                clip = np.maximum(clip + self._filter_curve(n_mels).astype(clip.dtype)[:, None], floor)
            if self.reverb:
                clip = np.maximum(self._reverberate(clip), floor)
            if self.stretch:
                rate = float(np.exp(self.rng.uniform(*np.log(self.stretch))))
                centre = (n_frames - 1) / 2
                clip = _resample_axis(clip, (np.arange(n_frames) - centre) * rate + centre, 1, floor)
            if self.warp:
                factor = float(self.rng.uniform(1 - self.warp, 1 + self.warp))
                if self.band_hz is not None and len(self.band_hz) == n_mels:
                    # vocal-tract-length perturbation: the band at f Hz takes what was at f * factor
                    # (mel bands are log-spaced above 1 kHz, so this is not a scaling of band numbers)
                    source = np.interp(self.band_hz * factor, self.band_hz, np.arange(n_mels, dtype=np.float64),
                                       right=np.inf)
                else:
                    source = np.arange(n_mels) * factor
                clip = _resample_axis(clip, source, 0, floor)
            if self.pitch_shift:
                semitones, bins = self.pitch_shift
                shift = int(self.rng.integers(-semitones, semitones + 1)) * int(bins)
                clip = np.swapaxes(self._shift(np.swapaxes(clip, 0, 1), shift, floor), 0, 1)
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
