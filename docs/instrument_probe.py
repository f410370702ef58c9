"""A fast PyTorch replica of the instrument experiment, to try ideas before building them.

    python docs/instrument_probe.py --bank /tmp/inst/tim --bank /tmp/inst/ms --front-end cqt --pitch 6

Trains, on fold 0's training part of the first bank, a CNN shaped like the default
AudioCNN (3x3 conv, batch norm, ReLU, 2x2 max pool per block, average over frequency and
time, a 64-unit head), with the recipe's per-window scaling, random crop, colouring
(+-eq dB), time shift, 2+2 masks, label smoothing 0.1, AdamW with warm-up and cosine
decay, and judges held-out melodies of the same bank (within) and every melody of the
second bank (across) by the mean probability over half-overlapping windows. It is not
the library's training loop (no time stretch, mel warp or best-epoch checkpoint; the
last epoch is judged), so its numbers are for comparing ideas with each other; the
command line's own numbers are in docs/audio.md. Needs torch and librosa (the dev extra).
Features: log-mel (1024/256, 64 bands) or log-CQT (84 semitones from C1, hop 512), both
80 dB of range, clips at -20 dBFS RMS; `--pitch N` moves CQT windows by up to +-N bins,
`--bands-per-row K` averages K adjacent rows (a coarser frequency axis),
`--drop-low-rows N` leaves out the lowest N rows. Two more inputs: `mfcc` (MFCCs 1-20 of
the log-mel, liftered by 22, divided by 10; use `--eq 0`, colouring is meant for bands)
and `hcqt` (a CQT at 36 bins per octave from C2, hop 256, each frame moved so that row 0
is its detected fundamental: 144 rows, four octaves above it). `--band-dropout P`
silences each row of a training window with probability P.
"""
import argparse
import glob
import os
import time

import numpy as np

CLASSES = ["piano", "marimba", "organ", "guitar", "violin", "trumpet", "saxophone", "flute"]
SR = 22050


def features(path, front_end):
    import librosa
    y, _ = librosa.load(path, sr=SR)
    y = y * (0.1 / max(float(np.sqrt(np.mean(y ** 2))), 1e-8))
    if front_end == "cqt":
        S = np.abs(librosa.cqt(y, sr=SR, hop_length=512)) ** 2
    elif front_end == "mfcc":
        S = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=256, n_mels=64)
        L = librosa.power_to_db(S, top_db=80.0)
        return (librosa.feature.mfcc(S=L, n_mfcc=21, lifter=22)[1:] / 10.0).astype(np.float32)
    elif front_end == "hcqt":
        return pitch_normalised(np.abs(librosa.cqt(y, sr=SR, hop_length=256, fmin=librosa.note_to_hz("C2"),
                                                   n_bins=36 * 7, bins_per_octave=36)) ** 2)
    else:
        S = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=256, n_mels=64)
    return librosa.power_to_db(S, top_db=80.0).astype(np.float32)


def pitch_normalised(C, rows=144):
    """A constant-Q power spectrogram at 36 bins per octave, moved frame by frame so that
    row 0 is the detected fundamental (instrument_descriptors.fundamental_bins: the bin whose
    first six harmonics are loudest on average) and row r is r thirds of a semitone above it."""
    from instrument_descriptors import fundamental_bins
    L = librosa_db(C)
    f0 = fundamental_bins(L)
    n, T = L.shape
    out = np.full((rows, T), L.min(), np.float32)
    for t in range(T):
        top = min(n, f0[t] + rows)
        out[:top - f0[t], t] = L[f0[t]:top, t]
    return out


def librosa_db(S):
    import librosa
    return librosa.power_to_db(S, top_db=80.0)


def load_bank(root, front_end):
    files, labels = [], []
    for c, name in enumerate(CLASSES):
        found = sorted(glob.glob(os.path.join(root, name, "*.wav")))
        files += found
        labels += [c] * len(found)
    return [features(f, front_end) for f in files], np.asarray(labels)


def main():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bank", action="append", required=True, help="train on the first, test on the second")
    p.add_argument("--front-end", choices=("mel", "cqt", "mfcc", "hcqt"), default="mel")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--pitch", type=int, default=0, help="CQT: random shift by up to +-N bins")
    p.add_argument("--eq", type=float, default=10.0, help="random colouring within +-dB")
    p.add_argument("--bands-per-row", type=int, default=1)
    p.add_argument("--drop-low-rows", type=int, default=0, help="leave out the lowest N rows (bands or bins)")
    p.add_argument("--band-dropout", type=float, default=0.0,
                   help="in training, each row (band or bin) silenced with this probability")
    p.add_argument("--channels", default="16,32,64,64")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--weight-decay", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(a.seed)
    W = 151 if a.front_end == "cqt" else 302                  # 3.5 s, as the survey chooses
    banks = []
    for root in a.bank[:2]:
        X, y = load_bank(root, a.front_end)
        X = [x[a.drop_low_rows:] for x in X]
        if a.bands_per_row > 1:
            X = [x.reshape(x.shape[0] // a.bands_per_row, a.bands_per_row, -1).mean(1) for x in X]
        banks.append((X, y))
    (Xa, ya), (Xb, yb) = banks
    held = np.zeros(len(ya), bool)                            # a fifth of each class held out
    for c in range(len(CLASSES)):
        members = np.random.default_rng(0).permutation(np.flatnonzero(ya == c))
        held[members[:len(members) // 5]] = True
    train, test = np.flatnonzero(~held), np.flatnonzero(held)

    def pad(x):
        if x.shape[1] >= W:
            return x
        before = (W - x.shape[1]) // 2
        return np.pad(x, ((0, 0), (before, W - x.shape[1] - before)), constant_values=x.min())

    def scale(x):
        x = x - x.mean()
        return (x / (x.std() + 1e-3)).astype(np.float32)

    def augment(x):
        x = pad(x)
        start = rng.integers(0, x.shape[1] - W + 1)
        x = x[:, start:start + W].astype(np.float64)
        floor, rows = x.min(), x.shape[0]
        if a.eq:
            band = np.linspace(-1, 1, rows)
            tilt, ripple = rng.uniform(-1, 1, 2)
            curve = tilt * band + ripple * np.cos(np.pi * (band + 1) * rng.uniform(1, 3) + rng.uniform(0, 2 * np.pi))
            curve *= a.eq / max(np.abs(curve).max(), 1e-6) * rng.uniform()
            x = np.maximum(x + curve[:, None], floor)
        if a.pitch:
            k = int(rng.integers(-a.pitch, a.pitch + 1))
            x = np.roll(x, k, 0)
            if k > 0:
                x[:k] = floor
            elif k < 0:
                x[k:] = floor
        x = np.roll(x, int(rng.integers(-W // 10, W // 10 + 1)), 1)
        for _ in range(2):
            w = rng.integers(0, W // 10 + 1)
            s = rng.integers(0, W - w + 1)
            x[:, s:s + w] = floor
        for _ in range(2):
            w = rng.integers(0, rows // 10 + 1)
            s = rng.integers(0, rows - w + 1)
            x[s:s + w] = floor
        if a.band_dropout:
            x[rng.random(rows) < a.band_dropout] = floor
        return scale(x)

    def windows(x):
        x = pad(x)
        starts = list(range(0, x.shape[1] - W + 1, W // 2))
        if starts[-1] + W < x.shape[1]:
            starts.append(x.shape[1] - W)
        return np.stack([scale(x[:, s:s + W]) for s in starts])

    layers, c_in = [], 1
    for c_out in (int(c) for c in a.channels.split(",")):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c_out
    body = nn.Sequential(*layers)
    head = nn.Sequential(nn.Linear(c_in, 64), nn.ReLU(), nn.Dropout(a.dropout), nn.Linear(64, len(CLASSES)))
    net = nn.ModuleDict({"body": body, "head": head})

    def forward(x):
        return head(body(x).mean((2, 3)))
    fit = np.setdiff1d(train, train[::10])                   # as train: a tenth kept for validation
    optimizer = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=a.weight_decay)
    per_epoch = int(np.ceil(len(fit) / 64))
    steps, warm = a.epochs * per_epoch, 2 * per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: (i + 1) / warm if i < warm else
                                                 0.5 * (1 + np.cos(np.pi * (i - warm) / max(steps - warm, 1))))

    def accuracy(X, y, ids):
        net.eval()
        confusion = np.zeros((len(CLASSES),) * 2, int)
        with torch.no_grad():
            for i in ids:
                p = F.softmax(forward(torch.tensor(windows(X[i])[:, None])), 1).mean(0)
                confusion[y[i], int(p.argmax())] += 1
        net.train()
        return np.trace(confusion) / max(confusion.sum(), 1), confusion     # no clips held out: 0
    start = time.process_time()
    for _ in range(a.epochs):
        order = rng.permutation(fit)
        for b in range(0, len(order), 64):
            ids = order[b:b + 64]
            x = torch.tensor(np.stack([augment(Xa[i]) for i in ids])[:, None])
            loss = F.cross_entropy(forward(x), torch.tensor(ya[ids]), label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    within, _ = accuracy(Xa, ya, test)
    across, confusion = accuracy(Xb, yb, np.arange(len(yb)))
    print(f"within {within:.3f}  across {across:.3f}  ({time.process_time() - start:.0f} CPU-s)")
    print("across confusion (rows: true, columns: predicted; order " + ", ".join(CLASSES) + ")")
    print(confusion)


if __name__ == "__main__":
    main()
