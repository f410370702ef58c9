"""The data of tutorials 09 and 10: spoken digits (FSDD) when they are beside the
checkout, otherwise synthetic sound events, as standardised log-mel features."""
from __future__ import annotations

import os

import numpy as np

import autograd_lab as al

FSDD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "fsdd")


def log_mel_data(quick):
    """(X_train, y_train, X_test, y_test, class names, title, (mean, std)); X is (N, 1, 40, 63),
    standardised with the training set's mean and spread, which are returned too."""
    if os.path.isdir(FSDD):
        train, test = al.audio.FSDD(FSDD, "train"), al.audio.FSDD(FSDD, "test")
        if quick:                                   # two speakers: a smaller, faster run
            speakers = train.all_speakers[:2]
            train = al.audio.FSDD(FSDD, "train", speakers=speakers)
            test = al.audio.FSDD(FSDD, "test", speakers=speakers)
        title = "spoken digits (FSDD)"
    else:
        n = 20 if quick else 100
        train = al.audio.SyntheticSounds(n, "train")
        test = al.audio.SyntheticSounds(max(n // 3, 5), "test")
        title = "synthetic sound events"
    config = al.audio.FeatureConfig()
    X, y, _ = al.audio.extract_features(train, config, progress=False)
    X_test, y_test, _ = al.audio.extract_features(test, config, progress=False)
    mean, std = X.mean(), X.std()
    return ((X - mean) / std).astype(np.float32), y, ((X_test - mean) / std).astype(np.float32), y_test, \
        train.classes, title, (float(mean), float(std))
