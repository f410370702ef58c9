"""Looking at a dataset before training: its sample rates, lengths and channels, and the
feature settings that fit it.

`survey` reads only the files' headers (`soundfile.info`: a few hundred bytes each), so
it costs well under a second for thousands of files. `choose_features` turns what it
found into a FeatureConfig and one reason per choice, which `autograd-lab train` prints
and the checkpoint keeps; a value the user gave always wins.
"""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from .prepare import FeatureConfig

#: The highest rate chosen on its own: speech and most sound events carry little above 11 kHz,
#: and every doubling of the rate doubles the cost of the features and of the network.
MAX_RATE = 22050
#: The longest training window chosen on its own (longer clips are cropped at random in
#: training and judged on all their windows at inference).
MAX_DURATION = 10.0
#: Frames per window above which the hop is doubled (network cost grows with the frames).
MAX_FRAMES = 320
#: A file beside the class folders that suggests feature settings for the data (a JSON
#: object of FeatureConfig fields with an optional "why"), e.g. {"front_end": "cqt"} from
#: whoever assembled the data. Flags still win over it.
SUGGESTIONS_FILE = "features.json"


@dataclasses.dataclass
class Survey:
    """What the headers say: one entry per readable file (rate, seconds, channels)."""
    files: list
    rates: np.ndarray
    durations: np.ndarray
    channels: np.ndarray
    unreadable: list
    suggested: dict = dataclasses.field(default_factory=dict)   # from SUGGESTIONS_FILE
    suggested_by: str = ""                                      # that file's path, and why

    def __len__(self):
        return len(self.files)


def read_suggestions(root) -> tuple[dict, str]:
    """The feature settings suggested by root/features.json ({} if there is none), and a
    phrase saying where they come from. An unknown field or a file that is not a JSON
    object is an error naming the file."""
    import json
    path = os.path.join(os.fspath(root), SUGGESTIONS_FILE) if root else ""
    if not path or not os.path.isfile(path):
        return {}, ""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a JSON file of feature settings ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of feature settings, got {type(data).__name__}")
    why = str(data.pop("why", "")).strip()
    fields = {f.name for f in dataclasses.fields(FeatureConfig)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"{path}: unknown feature setting(s) {unknown}; known: {sorted(fields)}")
    return data, f"suggested by {path}" + (f": {why}" if why else "")


def survey(dataset) -> Survey | None:
    """Rates, durations and channels of a dataset's files from their headers (None for a
    dataset made in code, which says its own rate and length), and the settings its
    folder suggests (`read_suggestions`)."""
    import soundfile as sf
    from .io import _QuietDecoder
    paths = [f for f in getattr(dataset, "files", []) if f is not None]
    if not paths:
        return None
    files, rates, durations, channels, unreadable = [], [], [], [], []
    for path in paths:
        try:
            with _QuietDecoder():
                header = sf.info(path)
        except Exception:                      # anything libsndfile refuses: reported when read
            unreadable.append(path)
            continue
        if header.samplerate <= 0 or header.frames <= 0:
            unreadable.append(path)
            continue
        files.append(path)
        rates.append(header.samplerate)
        durations.append(header.frames / header.samplerate)
        channels.append(header.channels)
    suggested, by = read_suggestions(getattr(dataset, "root", None))
    return Survey(files, np.asarray(rates, np.int64), np.asarray(durations, np.float64),
                  np.asarray(channels, np.int64), unreadable, suggested, by)


def _names(paths, limit=3):
    shown = ", ".join(os.path.basename(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def problems(found: Survey, config: FeatureConfig) -> list:
    """Warnings about the data for these features, each naming the files concerned."""
    out = []
    if found is None or not len(found):
        return out
    low, high = int(found.rates.min()), int(found.rates.max())
    if high > 4 * low:
        slow = [f for f, r in zip(found.files, found.rates) if r == low]
        out.append(f"sample rates differ by more than 4x ({low} to {high} Hz): the {low}-Hz files "
                   f"({_names(slow)}) hold nothing above {low // 2} Hz, so the classifier may learn "
                   "the recording rate instead of the sound; consider resampling them or dropping them")
    window = config.n_fft / config.sr
    short = [f for f, d in zip(found.files, found.durations) if d < window]
    if short:
        out.append(f"{len(short)} clips are shorter than one analysis window ({1000 * window:.0f} ms): "
                   f"{_names(short)}; they are padded with silence to {config.duration:g} s")
    return out


def _round_up(value, step):
    return math.ceil(value / step - 1e-9) * step


def choose_features(found: Survey | None, given: dict | None = None,
                    default: FeatureConfig | None = None) -> tuple[FeatureConfig, list]:
    """A FeatureConfig for the surveyed data, and one line per choice saying why.

    given    values the user set (sr, duration, n_fft, hop_length, n_mels); they win
    default  the settings used when there is nothing to look at (a dataset made in code)

    Rules: the most common native rate, at most MAX_RATE; the 95th percentile of the
    durations rounded up to a quarter second, at most MAX_DURATION; windows of at least
    25 ms (the next power of two: 32 ms at 8 and 16 kHz, 46 ms at 22.05 kHz); hops of
    about 11.6 ms, doubled until a window is at most MAX_FRAMES frames; 40 mel bands
    below 16 kHz, 64 from there. Settings the data's folder suggests (`features.json`,
    see read_suggestions) replace these rules; with front_end "cqt" the hop is about 23 ms
    (a constant-Q input needs fewer frames: its low bins are long filters anyway) and
    n_fft and n_mels are not used.

    >>> import numpy as np
    >>> found = Survey(["a.wav"] * 3, np.array([44100] * 3), np.array([5.0] * 3), np.ones(3, int), [])
    >>> config, why = choose_features(found)
    >>> config.sr, config.duration, config.n_fft, config.hop_length, config.n_mels
    (22050, 5.0, 1024, 512, 64)
    """
    given = {k: v for k, v in (given or {}).items() if v is not None}
    default = default or FeatureConfig()
    reasons = []
    if found is None or not len(found):
        config = dataclasses.replace(default, **given)
        reasons.append("nothing to inspect (clips made in code): their own rate "
                       f"{config.sr} Hz and length {config.duration:g} s")
        return config, reasons

    def chose(name, value, why):
        if name in given:
            reasons.append(f"{name} {given[name]} (given)")
            return given[name]
        if name in found.suggested:
            reasons.append(f"{name} {found.suggested[name]} ({found.suggested_by})")
            return found.suggested[name]
        reasons.append(f"{name} {value} ({why})")
        return value

    front_end = chose("front_end", default.front_end, "log-mel: the default for speech and sound events")
    cqt = front_end == "cqt"

    rates, counts = np.unique(found.rates, return_counts=True)
    common = int(rates[np.argmax(counts)])
    spread = f"{len(rates)} rates, {int(rates.min())}-{int(rates.max())} Hz, most at {common} Hz" \
        if len(rates) > 1 else f"every file is at {common} Hz"
    sr = chose("sr", min(common, MAX_RATE),
               spread + (f"; capped at {MAX_RATE}" if common > MAX_RATE else ""))
    p95 = float(np.percentile(found.durations, 95))
    duration = chose("duration", float(min(max(_round_up(p95, 0.25), 0.25), MAX_DURATION)),
                     f"95% of the clips last at most {p95:.2f} s (range {found.durations.min():.2f}-"
                     f"{found.durations.max():.2f} s); longer ones are cropped at random in training "
                     "and judged on all their windows")
    if cqt:                     # the constant-Q filters have their own lengths
        n_fft = default.n_fft
        bins_per_octave = found.suggested.get("bins_per_octave", default.bins_per_octave)
        octaves = math.ceil(given.get("n_bins", found.suggested.get("n_bins", default.n_bins)) / bins_per_octave)
        step = 2 ** max(octaves - 1, 0)      # each lower octave halves the rate: the hop must halve too
        hop = max(step * int(round(sr * 0.0232 / step)), step)
    else:
        n_fft = chose("n_fft", int(2 ** math.ceil(math.log2(0.025 * sr))),
                      f"a {1000 * 2 ** math.ceil(math.log2(0.025 * sr)) / sr:.0f}-ms window at {sr} Hz")
        hop = max(16 * int(round(sr * 0.0116 / 16)), 1)
    doubled = 0
    while 1 + int(round(sr * duration)) // hop > MAX_FRAMES:
        hop, doubled = hop * 2, doubled + 1
    frames = 1 + int(round(sr * duration)) // hop
    hop = chose("hop_length", hop, f"{1000 * hop / sr:.1f}-ms hops, {frames} frames per window"
                + (f"; doubled {doubled}x to stay within {MAX_FRAMES} frames" if doubled else ""))
    n_mels = chose("n_mels", 40 if sr < 16000 else 64, "40 bands below 16 kHz, 64 from there") if not cqt \
        else default.n_mels
    extra = {}
    if cqt:
        why = {"n_bins": "seven octaves at 12 bins per octave", "bins_per_octave": "12: one bin per semitone",
               "fmin": "0: C1 = 32.7 Hz, librosa's lowest note"}
        for name in ("n_bins", "bins_per_octave", "fmin"):
            extra[name] = chose(name, getattr(default, name), why[name] + "; the default")
    if "pad" in given or "pad" in found.suggested:      # said only when asked for: silence otherwise
        extra["pad"] = chose("pad", default.pad, "")
    config = dataclasses.replace(default, sr=int(sr), duration=float(duration), n_fft=int(n_fft),
                                 hop_length=int(hop), n_mels=int(n_mels), front_end=front_end, **extra)
    if found.channels.max() > 1:
        reasons.append(f"{int((found.channels > 1).sum())} files have more than one channel: mixed down to mono")
    return config, reasons
