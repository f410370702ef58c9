"""Small ready-made classifiers for log-mel spectrograms (N, 1, n_mels, frames)."""
from __future__ import annotations

from .. import nn
from ..core.errors import ShapeError
from ..ops import functions as fn


class TimeAvgPool(nn.Module):
    """Mean over time only: (N, C, bands, frames) -> (N, C * bands). Which band a pattern
    sits in is kept (a formant's height says which vowel), where it sits in time is not."""

    def forward(self, x):
        n, c, bands = x.shape[:3]
        return fn.reshape(fn.mean(x, axis=3), (n, c * bands))


class AudioCNN(nn.Module):
    """Three conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool), in the spirit of
    BENCHMARKS.md W3, then an average over frequency and time (`pool="global"`) or over
    time only (`pool="time"`, which needs `n_mels`), so any clip length fits, and a small
    dense head.

    >>> import autograd_lab as al, numpy as np
    >>> model = al.audio.AudioCNN(n_classes=10)
    >>> model(al.tensor(np.zeros((2, 1, 40, 50), np.float32))).shape
    (2, 10)
    """

    def __init__(self, n_classes=10, channels=(16, 32, 64), hidden=64, dropout=0.2, pool="global",
                 n_mels=None):
        super().__init__()
        if pool not in ("global", "time"):
            raise ValueError(f"AudioCNN: pool must be 'global' or 'time', got {pool!r}")
        if pool == "time" and not n_mels:
            raise ValueError("AudioCNN: pool='time' needs n_mels (the flattened bands size the head)")
        blocks, c_in = [], 1
        for c_out in channels:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.pool_kind, self.n_mels = pool, n_mels
        features = c_in
        if pool == "time":
            self.pool = TimeAvgPool()
            features = c_in * (int(n_mels) // 2 ** len(channels))
        else:
            self.pool = nn.GlobalAvgPool2d()
        self.head = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, n_classes))
        self.min_size = 2 ** len(channels)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 1:
            raise ShapeError(f"AudioCNN: expected log-mel input (N, 1, n_mels, frames), got {x.shape}")
        if min(x.shape[2:]) < self.min_size:
            raise ShapeError(f"AudioCNN: needs at least {self.min_size} mel bands and frames, "
                             f"got {x.shape[2]} x {x.shape[3]}")
        if self.pool_kind == "time" and x.shape[2] != self.n_mels:
            raise ShapeError(f"AudioCNN: built for {self.n_mels} mel bands (pool='time'), got {x.shape[2]}")
        return self.head(self.pool(self.features(x)))


class AudioMLP(nn.Module):
    """A dense network on a coarse log-mel image: the frames are averaged into `segments`
    equal stretches of time (any clip length fits), giving n_mels x segments inputs,
    then hidden -> hidden -> n_classes with ReLU and dropout.

    >>> import autograd_lab as al, numpy as np
    >>> model = al.audio.AudioMLP(n_mels=40, n_classes=10)
    >>> model(al.tensor(np.zeros((2, 1, 40, 63), np.float32))).shape
    (2, 10)
    """

    def __init__(self, n_mels=40, n_classes=10, segments=8, hidden=256, dropout=0.3):
        super().__init__()
        self.n_mels, self.segments = n_mels, segments
        self.net = nn.Sequential(nn.Linear(n_mels * segments, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_classes))

    def forward(self, x):
        if x.ndim != 4 or x.shape[1:3] != (1, self.n_mels):
            raise ShapeError(f"AudioMLP: expected (N, 1, {self.n_mels}, frames), got {x.shape}")
        n, frames = x.shape[0], x.shape[3]
        if frames < self.segments:
            raise ShapeError(f"AudioMLP: needs at least {self.segments} frames, got {frames}")
        width = frames // self.segments            # trailing frames that do not fill a stretch are dropped
        x = fn.getitem(x, (slice(None), 0, slice(None), slice(0, width * self.segments)))
        coarse = fn.mean(fn.reshape(x, (n, self.n_mels, self.segments, width)), axis=3)
        return self.net(fn.reshape(coarse, (n, self.n_mels * self.segments)))
