"""Peak memory of five training steps of the default audio CNN on 5-s, 22.05-kHz log-mel
batches (64 x 1 x 64 x 216), ours against PyTorch's, each in a fresh process.

    python benchmarks/audio_cnn_memory.py            # runs both sides under /usr/bin/time -v
    python benchmarks/audio_cnn_memory.py ours       # one side, for /usr/bin/time -v by hand
    python benchmarks/audio_cnn_memory.py torch

The network is what `autograd-lab train` builds for that input
(`cnn_channels_for(64, 216)`) (four blocks of 3x3
conv, batch norm, ReLU and 2x2 max pool, channels 16-32-64-64, global average, a
64-unit dense head); AdamW, cross-entropy. Peak resident set size is what
`/usr/bin/time -v` reports ("Maximum resident set size"): the whole process, imports
included, as a user's training run would see it. Two threads on each side.
"""
import os
import re
import subprocess
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402,F401  (thread limits)

SHAPE = (64, 1, 64, 216)
STEPS = 5
CHANNELS = (16, 32, 64, 64)


def ours():
    import numpy as np
    import autograd_lab as al
    model = al.audio.AudioCNN(n_classes=10, channels=CHANNELS)
    opt = al.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    model.train()
    for _ in range(STEPS):
        x = rng.standard_normal(SHAPE).astype(np.float32)
        y = rng.integers(0, 10, SHAPE[0])
        loss = al.nn.functional.cross_entropy(model(al.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"ours: loss {float(loss.data):.4f}")


def reference():
    import numpy as np
    import torch
    torch.set_num_threads(int(common.THREADS))
    layers, c_in = [], 1
    for c_out in CHANNELS:
        layers += [torch.nn.Conv2d(c_in, c_out, 3, padding=1), torch.nn.BatchNorm2d(c_out), torch.nn.ReLU(),
                   torch.nn.MaxPool2d(2)]
        c_in = c_out
    model = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(c_in, 64), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                torch.nn.Linear(64, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    model.train()
    for _ in range(STEPS):
        x = torch.from_numpy(rng.standard_normal(SHAPE).astype(np.float32))
        y = torch.from_numpy(rng.integers(0, 10, SHAPE[0]))
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"torch: loss {float(loss):.4f}")


def peak_kb(side):
    result = subprocess.run(["/usr/bin/time", "-v", sys.executable, os.path.abspath(__file__), side],
                            capture_output=True, text=True, check=True)
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))


def main():
    if len(sys.argv) > 1:
        {"ours": ours, "torch": reference}[sys.argv[1]]()
        return
    print(f"peak RSS of {STEPS} training steps on {SHAPE} batches (fresh process each, /usr/bin/time -v)")
    for side in ("ours", "torch", "ours", "torch"):           # alternating, as the load changes
        print(f"  {side:>5}: {peak_kb(side) / 1024:7.0f} MB", flush=True)


if __name__ == "__main__":
    main()
