"""Paired comparison of classifiers on the same test fold of a class folder: each one's
accuracy with its standard error, and for each pair the difference with the standard
error of the paired difference (clip by clip), which is what says whether two runs differ.

    python docs/compare_checkpoints.py DATA FOLDS RUN_DIR [RUN_DIR ...]

DATA and FOLDS as given to `autograd-lab train --data DATA --folds FOLDS` (test fold 0,
seed 0); each RUN_DIR holds the model.safetensors that command wrote.
"""
import itertools
import sys

import numpy as np

import autograd_lab as al
from autograd_lab.audio.classifier import AudioClassifier
from autograd_lab.audio.prepare import extract_clips


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    data, folds, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    folder = al.audio.AudioFolder(data)
    test = folder.subset(folder.kfold(folds, seed=0)[0][1])
    right = {}
    for run in runs:
        classifier = AudioClassifier.load(f"{run}/model.safetensors")
        clips = extract_clips(test, classifier.config, progress=False)
        right[run] = np.argmax(classifier.clip_probabilities(clips), axis=1) == clips.y
        p = right[run].mean()
        print(f"{run}: {p:.3f} of {len(clips)} (SE {np.sqrt(p * (1 - p) / len(clips)):.3f})")
    for a, b in itertools.combinations(runs, 2):
        d = right[a].astype(float) - right[b].astype(float)
        print(f"{a} - {b}: {d.mean():+.3f} (paired SE {d.std(ddof=1) / np.sqrt(len(d)):.3f}; "
              f"{int((d != 0).sum())} clips judged differently)")


if __name__ == "__main__":
    main()
