"""What tells the instruments apart in both banks: clip descriptors and small classifiers.

    python docs/instrument_descriptors.py --bank /tmp/inst/tim --bank /tmp/inst/ms
    python docs/instrument_descriptors.py --zones timgm6mb     # what a bank plays for each class

Each clip becomes one vector of descriptors that a listener would name:
  * timbre: the mean and spread over the clip's loud frames of MFCCs 1-19 (from the log-mel
    the command line uses: 1024/256, 64 bands; MFCC 0, the level, left out);
  * harmonic profile: the level of harmonics 1-16 relative to the loudest one, read off a
    constant-Q spectrogram at 36 bins per octave at the detected fundamental (the bin whose
    first six harmonics are loudest on average), mean and spread over the loud frames;
    it does not move with the note played, as a spectrogram does;
  * envelope: the share of frames within 20 dB of the loudest, and the 5th/95th percentiles,
    mean size and spread of the frame-to-frame change in level (fast decays, steady tones).
Then each classifier is trained on one bank and tested on every clip of the other (across),
both ways, and on a held-out fifth of the training bank (within). Needs librosa (the dev
extra; it brings scikit-learn) and, for `--mlp`, torch.

`--facts` prints, per class and bank, the median attack, decay, vibrato, noise between the
harmonics and brightness and harmonics 1-6 of the melodies' notes (their pitches and times from manifest.json).

`--zones` reads a SoundFont's preset, instrument and sample headers (no sample data) and
lists, for the eight programs of `autograd-lab data instruments`, which recorded samples
play which keys, with each sample's length and loop length (for .sf2: .sf3 stores its
samples compressed, so only the loop length, counted in samples, is shown).
"""
from __future__ import annotations

import argparse
import glob
import os
import struct
import sys
import time

import numpy as np

CLASSES = ["piano", "marimba", "organ", "guitar", "violin", "trumpet", "saxophone", "flute"]
PROGRAMS = {"piano": 0, "marimba": 12, "organ": 19, "guitar": 24, "violin": 40, "trumpet": 56,
            "saxophone": 65, "flute": 73}
SR = 22050
BINS_PER_OCTAVE = 36
N_HARMONICS = 16
# Constant-Q bins of harmonics 1..16 above the fundamental's bin.
HARMONIC_BINS = np.round(BINS_PER_OCTAVE * np.log2(np.arange(1, N_HARMONICS + 1))).astype(int)
UNDO_CQT_TILT = 10 * np.log10(np.arange(1, N_HARMONICS + 1))          # see harmonic_profile


def fundamental_bins(level_db, n_harmonics=6):
    """Per frame, the constant-Q bin whose first `n_harmonics` harmonics are loudest on
    average (a harmonic sum), median-filtered over 5 frames against octave slips."""
    from scipy.ndimage import median_filter
    n_bins, _ = level_db.shape
    offsets = HARMONIC_BINS[:n_harmonics]
    score = np.full(level_db.shape, -np.inf)
    for b in range(n_bins - offsets[-1]):
        score[b] = level_db[b + offsets].mean(0)
    return median_filter(score.argmax(0), size=5, mode="nearest")


def harmonic_profile(level_db, frames, floor_db=-60.0):
    """Levels (dB) of harmonics 1..16 relative to the loudest of them, one row per frame in
    `frames`; a harmonic above the top of the spectrogram counts as `floor_db`. librosa's
    CQT divides each bin by the square root of its filter's length, so a sinusoid reads 3 dB
    lower per octave up: added back here, so that equal harmonics read equal."""
    f0 = fundamental_bins(level_db)
    n_bins = level_db.shape[0]
    rows = []
    for t in frames:
        bins = f0[t] + HARMONIC_BINS
        inside = bins < n_bins
        levels = np.full(N_HARMONICS, -np.inf)
        levels[inside] = level_db[bins[inside], t] + UNDO_CQT_TILT[inside]
        rows.append(np.maximum(levels - levels.max(), floor_db))
    return np.asarray(rows).reshape(-1, N_HARMONICS)


def descriptors(y, sr=SR):
    """One clip's descriptor vector (see the module's docstring): 38 MFCC, 32 harmonic, 5
    envelope values."""
    import librosa
    y = np.asarray(y, np.float64)
    y = y * (0.1 / max(float(np.sqrt(np.mean(y ** 2))), 1e-8))
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=256, n_mels=64)
    mel_db = librosa.power_to_db(mel, top_db=80.0)
    loud = mel_db.max(0) > mel_db.max() - 30
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)[1:, loud]
    cqt = np.abs(librosa.cqt(y, sr=sr, hop_length=256, fmin=librosa.note_to_hz("C2"),
                             n_bins=7 * BINS_PER_OCTAVE, bins_per_octave=BINS_PER_OCTAVE)) ** 2
    cqt_db = librosa.power_to_db(cqt, top_db=80.0)
    cqt_loud = np.flatnonzero(cqt_db.max(0) > cqt_db.max() - 30)
    harmonics = harmonic_profile(cqt_db, cqt_loud)
    level = 10 * np.log10(mel.sum(0) + 1e-10)
    level -= level.max()
    change = np.diff(level)
    envelope = [np.mean(level > -20), np.percentile(change, 5), np.percentile(change, 95),
                np.mean(np.abs(change)), np.std(change)]
    return np.concatenate([mfcc.mean(1), mfcc.std(1), harmonics.mean(0), harmonics.std(0), envelope])


DESCRIPTOR_NAMES = ([f"mfcc{i}_mean" for i in range(1, 20)] + [f"mfcc{i}_std" for i in range(1, 20)]
                    + [f"h{k}_mean" for k in range(1, 17)] + [f"h{k}_std" for k in range(1, 17)]
                    + ["env_share_within_20dB", "env_change_p5", "env_change_p95", "env_change_mean_abs",
                       "env_change_std"])


def load_bank(root):
    import librosa
    from tqdm.auto import tqdm
    files, labels = [], []
    for c, name in enumerate(CLASSES):
        found = sorted(glob.glob(os.path.join(root, name, "*.wav")))
        files += found
        labels += [c] * len(found)
    X = np.stack([descriptors(librosa.load(f, sr=SR)[0]) for f in tqdm(files, desc=os.path.basename(root))])
    return X, np.asarray(labels)


def held_out_fifth(labels):
    held = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = np.random.default_rng(0).permutation(np.flatnonzero(labels == c))
        held[members[:len(members) // 5]] = True
    return held


def mlp_predict(Xa, ya, Xb, seed, input_dropout=0.5):
    """A 64-unit MLP on standardised descriptors, with dropout on its inputs."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    mu, sd = Xa.mean(0), Xa.std(0) + 1e-6
    xa = torch.tensor((Xa - mu) / sd, dtype=torch.float32)
    xb = torch.tensor((Xb - mu) / sd, dtype=torch.float32)
    net = nn.Sequential(nn.Dropout(input_dropout), nn.Linear(xa.shape[1], 64), nn.ReLU(), nn.Dropout(0.3),
                        nn.Linear(64, len(CLASSES)))
    optimizer = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-2)
    for _ in range(300):
        loss = F.cross_entropy(net(xa), torch.tensor(ya), label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        return net(xb).argmax(1).numpy()


def classifiers(use_mlp):
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    out = {"extra trees (300)": lambda Xa, ya, Xb, s: ExtraTreesClassifier(300, random_state=s).fit(Xa, ya).predict(Xb),
           "random forest (300)": lambda Xa, ya, Xb, s: RandomForestClassifier(300, random_state=s).fit(Xa, ya).predict(Xb),
           "logistic regression": lambda Xa, ya, Xb, s: make_pipeline(
               StandardScaler(), LogisticRegression(C=0.1, max_iter=5000)).fit(Xa, ya).predict(Xb)}
    if use_mlp:
        out["MLP, input dropout 0.5"] = mlp_predict
    return out


def compare(banks, names, use_mlp, seeds):
    groups = {"all": slice(None), "mfcc": slice(0, 38), "harmonics": slice(38, 70), "envelope": slice(70, 75)}
    for label, predict in classifiers(use_mlp).items():
        for a, b in ((0, 1), (1, 0)):
            (Xa, ya), (Xb, yb) = banks[a], banks[b]
            held = held_out_fifth(ya)
            within = np.mean([(predict(Xa[~held], ya[~held], Xa[held], s) == ya[held]).mean() for s in range(seeds)])
            across = [(predict(Xa, ya, Xb, s) == yb).mean() for s in range(seeds)]
            print(f"{label:24s} {names[a]} -> {names[b]}: within {within:.3f}  across {np.mean(across):.3f} "
                  f"(seeds: {' '.join(f'{v:.3f}' for v in across)})", flush=True)
    predict = classifiers(False)["extra trees (300)"]
    from sklearn.metrics import confusion_matrix
    for a, b in ((0, 1), (1, 0)):
        (Xa, ya), (Xb, yb) = banks[a], banks[b]
        for group in ("mfcc", "harmonics", "envelope"):
            keep = np.ones(Xa.shape[1], bool)
            keep[groups[group]] = False
            acc = np.mean([(predict(Xa[:, keep], ya, Xb[:, keep], s) == yb).mean() for s in range(seeds)])
            print(f"extra trees without the {group} descriptors, {names[a]} -> {names[b]}: across {acc:.3f}")
        print(f"extra trees, {names[a]} -> {names[b]}, rows true, columns predicted ({', '.join(CLASSES)}):")
        print(confusion_matrix(yb, predict(Xa, ya, Xb, 0), labels=range(len(CLASSES))))


# ---- what a listener would note, per note (the manifest gives each note's pitch and time) ----
def note_facts(y, pitch, start, duration, sr=SR):
    """Attack (s to the loudest 10-ms frame), decay (dB/s after it, while the key is held),
    vibrato (cents, spread of the loudest harmonic's frequency from 0.1 s on), noise (dB:
    energy between the harmonics against on them, f0/2-8 kHz) and brightness (spectral
    centroid over f0) of one note, from 4096-point spectra."""
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    a, b = int(start * sr), int((start + duration) * sr)
    frame = sr // 100
    held = y[a:b]
    level = 10 * np.log10(np.array([np.mean(held[i:i + frame] ** 2) + 1e-12
                                    for i in range(0, max(len(held) - frame, 1), frame)]))
    peak = int(np.argmax(level))
    after = level[peak:]
    decay = np.polyfit(np.arange(len(after)) / 100, after, 1)[0] if len(after) > 4 else 0.0
    n_fft, window = 4096, np.hanning(4096)
    centres = range(a + max(int(min(0.15, duration / 2) * sr), n_fft // 2), max(b - n_fft // 2, 0), 1024)
    spectra = [np.abs(np.fft.rfft(y[c - n_fft // 2:c + n_fft // 2] * window)) ** 2 for c in centres
               if c + n_fft // 2 <= len(y)]
    if not spectra:
        return None
    power = np.mean(spectra, 0)
    freqs = np.arange(len(power)) * sr / n_fft
    on_harmonic = np.zeros(len(power), bool)
    for k in range(1, int(sr / 2 / f0) + 1):
        on_harmonic[int(k * f0 * 0.97 / sr * n_fft):int(np.ceil(k * f0 * 1.03 / sr * n_fft)) + 1] = True
    band = (freqs > f0 / 2) & (freqs < 8000)
    noise = 10 * np.log10(power[band & ~on_harmonic].sum() / max(power[band & on_harmonic].sum(), 1e-12))
    brightness = (power[band] * freqs[band]).sum() / power[band].sum() / f0
    strongest = 1 + int(np.argmax([power[int(k * f0 * 0.97 / sr * n_fft):int(k * f0 * 1.03 / sr * n_fft) + 2].sum()
                                   for k in range(1, min(8, int(sr / 2 / f0)) + 1)]))
    track, n = [], 2048
    for c in range(a + sr // 10, b - n, 256):               # the strongest harmonic, 8x zero-padded
        spectrum = np.abs(np.fft.rfft(y[c:c + n] * np.hanning(n), 8 * n))
        lo, hi = int(strongest * f0 * 0.95 / sr * 8 * n), int(strongest * f0 * 1.05 / sr * 8 * n) + 1
        track.append((lo + np.argmax(spectrum[lo:hi])) * sr / (8 * n) / (strongest * f0))
    vibrato = 1200 * np.std(np.log2(track)) if len(track) > 4 else 0.0
    harmonics = [power[int(k * f0 * 0.97 / sr * n_fft):int(np.ceil(k * f0 * 1.03 / sr * n_fft)) + 1].sum()
                 if k * f0 < sr / 2 - 100 else 1e-12 for k in range(1, 7)]
    harmonics = 10 * np.log10(np.maximum(harmonics, 1e-12) / max(harmonics))
    return {"attack s": peak / 100, "decay dB/s": decay, "vibrato cents": vibrato, "noise dB": noise,
            "centroid/f0": brightness, "h1-h6 dB": harmonics}


def print_facts(roots):
    """Median facts per class and bank, over the notes held at least 0.3 s."""
    import json
    import soundfile
    table = {}
    for root in roots:
        with open(os.path.join(root, "manifest.json")) as f:
            clips = json.load(f)["clips"]
        for relative, notes in clips.items():
            y, sr = soundfile.read(os.path.join(root, relative), dtype="float64")
            for pitch, start, duration, _ in notes:
                facts = note_facts(y, pitch, start, duration, sr) if duration >= 0.3 else None
                for name, value in (facts or {}).items():
                    table.setdefault((relative.split("/")[0], name), {}).setdefault(root, []).append(value)
    names = ["attack s", "decay dB/s", "vibrato cents", "noise dB", "centroid/f0"]
    labels = " / ".join(os.path.basename(os.path.normpath(r)) for r in roots)
    print(f"median per note ({labels})")
    print(f"| class | {' | '.join(names)} |\n|---|{'---|' * len(names)}")
    for cls in CLASSES:
        cells = [" / ".join(f"{np.median(table[(cls, n)][r]):.2f}" for r in roots) for n in names]
        print(f"| {cls} | {' | '.join(cells)} |")
    print("harmonics 1-6, dB relative to the loudest (median per note), one line per bank")
    for cls in CLASSES:
        for r in roots:
            levels = np.median(table[(cls, "h1-h6 dB")][r], axis=0)
            print(f"{cls:10s} {os.path.basename(os.path.normpath(r)):6s} " + " ".join(f"{v:5.0f}" for v in levels))


# ---- SoundFont headers ----------------------------------------------------------------
def _chunks(data, offset, end):
    while offset + 8 <= end:
        cid, size = data[offset:offset + 4].decode("latin1"), struct.unpack("<I", data[offset + 4:offset + 8])[0]
        yield cid, offset + 8, size
        following = offset + 8 + size
        # RIFF pads odd chunks to even lengths, but some .sf3 writers do not: trust what follows
        offset = following + (size & 1 if data[following:following + 4] not in (b"LIST",) else 0)


def soundfont_zones(path, programs):
    """{program: (preset name, [(instrument, low key, high key, sample name, sample seconds or
    None, loop seconds)])} for bank 0 of a .sf2/.sf3, from its 'pdta' headers."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError(f"{path}: not a SoundFont (no RIFF sfbk header)")
    pdta = {}
    for cid, offset, size in _chunks(data, 12, len(data)):
        if cid == "LIST" and data[offset:offset + 4] == b"pdta":
            for sub, o2, s2 in _chunks(data, offset + 4, offset + size):
                pdta[sub] = data[o2:o2 + s2]

    def records(name, size, fmt):
        raw = pdta[name]
        return [struct.unpack(fmt, raw[i:i + size]) for i in range(0, len(raw) - size + 1, size)]
    text = lambda b: b.split(b"\0")[0].decode("latin1")  # noqa: E731
    phdr = [(text(r[0]),) + r[1:4] for r in records("phdr", 38, "<20sHHHIII")]
    pbag, ibag = records("pbag", 4, "<HH"), records("ibag", 4, "<HH")
    pgen, igen = records("pgen", 4, "<HH"), records("igen", 4, "<HH")
    inst = [(text(r[0]), r[1]) for r in records("inst", 22, "<20sH")]
    shdr = [(text(r[0]),) + r[1:] for r in records("shdr", 46, "<20sIIIIIBbHH")]
    compressed = path.lower().endswith(".sf3")
    KEY_RANGE, INSTRUMENT, SAMPLE_ID = 43, 41, 53            # SoundFont 2.04 generator numbers
    found = {}
    for i, (name, program, bank, bag) in enumerate(phdr[:-1]):
        if bank != 0 or program not in programs:
            continue
        zones = []
        for b in range(bag, phdr[i + 1][3]):
            for g in range(pbag[b][0], pbag[b + 1][0]):
                op, amount = pgen[g]
                if op != INSTRUMENT:
                    continue
                iname, first = inst[amount]
                for ib in range(first, inst[amount + 1][1]):
                    keys, sample = (0, 127), None
                    for gg in range(ibag[ib][0], ibag[ib + 1][0]):
                        o, a = igen[gg]
                        if o == KEY_RANGE:
                            keys = (a & 0xFF, a >> 8)
                        elif o == SAMPLE_ID:
                            sample = a
                    if sample is None:
                        continue
                    sname, start, end, loop_start, loop_end, rate = shdr[sample][:6]
                    zones.append((iname, keys[0], keys[1], sname, None if compressed else (end - start) / rate,
                                  (loop_end - loop_start) / rate))
        found[program] = (name, zones)
    return found


def print_zones(soundfont):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from autograd_lab.audio.instruments import resolve_soundfont
    path = resolve_soundfont(soundfont)
    zones = soundfont_zones(path, set(PROGRAMS.values()))
    for name, program in PROGRAMS.items():
        preset, rows = zones.get(program, ("(none)", []))
        unique = list(dict.fromkeys(rows))       # some presets layer one instrument several times
        print(f"{name} (program {program}): preset {preset!r}, {len(unique)} zones")
        for iname, low, high, sname, seconds, loop in unique:
            length = f"{seconds:6.3f} s" if seconds is not None else "   (.sf3)"
            print(f"   keys {low:3d}-{high:3d}  {sname:20s} sample {length}, loop {loop:6.3f} s  [{iname}]")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bank", action="append", help="two rendered banks (class folders)")
    p.add_argument("--zones", help="list a SoundFont's samples for the eight programs instead")
    p.add_argument("--facts", action="store_true",
                   help="print per-class medians of attack, decay, vibrato, noise, brightness instead")
    p.add_argument("--mlp", action="store_true", help="also an MLP with input dropout (needs torch)")
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    if a.zones:
        print_zones(a.zones)
        return
    if not a.bank or len(a.bank) != 2:
        p.error("give two --bank folders (or --zones SOUNDFONT)")
    if a.facts:
        print_facts(a.bank)
        return
    start = time.process_time()
    banks = [load_bank(root) for root in a.bank]
    print(f"descriptors of {sum(len(y) for _, y in banks)} clips: {time.process_time() - start:.0f} CPU-s")
    compare(banks, [os.path.basename(os.path.normpath(r)) for r in a.bank], a.mlp, a.seeds)
    print(f"total {time.process_time() - start:.0f} CPU-s")


if __name__ == "__main__":
    main()
