"""Across banks with the descriptor model: each variant trained on one bank, tested on the other.

    python docs/instrument_crossbank.py --bank /tmp/inst-tim --bank /tmp/inst-muse --seeds 3 \
        --variant default --variant one-net --variant eq10

The split is the command line's: `autograd-lab train --data BANK` trains on folds 1-4 of
BANK's 5-fold split (seed 0) less a tenth for validation and tests on fold 0 (*within*);
*across* is every clip of the other bank (`autograd-lab evaluate --split all`). The
descriptors are computed once per bank (cached like the command line's) and indexed, so a
variant costs only its training. Each figure is the mean over `--seeds` training seeds
(the split stays the command line's), each seed's value in brackets.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

#: variant -> (what it is, fit_descriptors settings, descriptor groups left out)
VARIANTS = {
    "default": ("the command line's: extremely randomised trees (1000)", {}, ()),
    "trees300": ("300 trees", {"learner": "trees", "n_trees": 300}, ()),
    "net": ("5 networks of 64 units, input dropout 0.5 (trained by the engine)", {"learner": "network"}, ()),
    "one-net": ("one network instead of five", {"learner": "network", "members": 1}, ()),
    "eq10": ("descriptors coloured by up to +-10 dB each step", {"learner": "network", "eq_db": 10.0}, ()),
    "eq20": ("descriptors coloured by up to +-20 dB each step", {"learner": "network", "eq_db": 20.0}, ()),
    "dropout0.3": ("input dropout 0.3", {"learner": "network", "input_dropout": 0.3}, ()),
    "dropout0.7": ("input dropout 0.7", {"learner": "network", "input_dropout": 0.7}, ()),
    "hidden256": ("256 hidden units", {"learner": "network", "hidden": 256}, ()),
    "steps1000": ("1000 steps", {"learner": "network", "steps": 1000}, ()),
    "subspace0.5": ("5 networks, each on a fixed random half of the descriptors",
                    {"learner": "network", "subspace": 0.5}, ()),
    "subspace0.5x15": ("15 networks, each on a fixed random half of the descriptors",
                       {"learner": "network", "subspace": 0.5, "members": 15}, ()),
    "members15": ("15 networks", {"learner": "network", "members": 15}, ()),
    "quantile": ("each descriptor mapped to its rank among the training clips (33 quantiles)",
                 {"learner": "network", "input_map": "quantile"}, ()),
    "clip2": ("standardised descriptors clipped to +-2", {"learner": "network", "input_map": "clip2"}, ()),
    "clip3": ("standardised descriptors clipped to +-3", {"learner": "network", "input_map": "clip3"}, ()),
    "trees-k1": ("trees splitting on one random descriptor each (totally random trees)",
                 {"learner": "trees", "max_features": 1}, ()),
    "trees-k20": ("trees choosing among 20 random descriptors per split",
                  {"learner": "trees", "max_features": 20}, ()),
    "trees-no-envelope": ("trees without the envelope descriptors", {"learner": "trees"}, ("envelope",)),
    "trees-no-spreads": ("trees without the spreads", {"learner": "trees"}, ("spreads",)),
    "trees+net": ("reference: the trees' and the 5 networks' probabilities averaged", "trees+net", ()),
    "trees": ("reference, not a command-line model: scikit-learn's extremely randomised trees (300)", "trees", ()),
    "no-envelope": ("networks without the envelope descriptors", {"learner": "network"}, ("envelope",)),
    "no-spreads": ("networks without the spreads (std) of the MFCCs and harmonics", {"learner": "network"},
                   ("spreads",)),
}


def split_of(dataset):
    """(train indices, validation indices, test indices) as `autograd-lab train` makes them."""
    from autograd_lab.audio.classifier import stratified_holdout
    train_idx, test_idx = dataset.kfold(5, seed=0)[0]
    labels = np.asarray(dataset.labels)[train_idx]
    fit, val = stratified_holdout(labels, 0.1, 0)
    return np.asarray(train_idx)[fit], np.asarray(train_idx)[val], np.asarray(test_idx)


def columns(config, leave_out):
    keep = np.ones(len(config.names()), bool)
    groups = config.groups()
    for name in leave_out:
        if name == "spreads":
            keep[[i for i, n in enumerate(config.names()) if n.endswith("_std")]] = False
        else:
            keep[groups[name]] = False
    return keep


def main():
    from autograd_lab.audio import AudioFolder, DescriptorConfig, extract_descriptors
    from autograd_lab.audio.descriptor_classifier import fit_descriptors
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bank", action="append", required=True, help="two rendered banks (class folders)")
    p.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="default: all")
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    config = DescriptorConfig()
    start = time.process_time()
    banks = []
    for root in a.bank:
        dataset = AudioFolder(root)
        found = extract_descriptors(dataset, config)
        assert np.array_equal(found.kept, np.arange(len(dataset))), "unreadable clips: index by kept"
        banks.append((os.path.basename(os.path.normpath(root)), dataset, found))
    print(f"descriptors: {time.process_time() - start:.0f} CPU-s", flush=True)
    for variant in a.variant or list(VARIANTS):
        what, settings, leave_out = VARIANTS[variant]
        keep = columns(config, leave_out)
        for (name_a, ds_a, fa), (name_b, ds_b, fb) in ((banks[0], banks[1]), (banks[1], banks[0])):
            assert ds_a.classes == ds_b.classes
            fit, val, test = split_of(ds_a)
            within, across = [], []
            t0 = time.process_time()
            for seed in range(a.seeds):
                if settings == "trees":
                    from sklearn.ensemble import ExtraTreesClassifier
                    trees = ExtraTreesClassifier(300, random_state=seed).fit(fa.X[fit][:, keep], fa.y[fit])
                    predict = trees.predict
                elif settings == "trees+net":
                    from sklearn.ensemble import ExtraTreesClassifier
                    trees = ExtraTreesClassifier(300, random_state=seed).fit(fa.X[fit][:, keep], fa.y[fit])
                    clf, _ = fit_descriptors(fa.X[fit][:, keep], fa.y[fit], ds_a.classes, config, seed=seed,
                                             learner="network")
                    predict = lambda X: (trees.predict_proba(X) + clf.probabilities(X)).argmax(1)  # noqa: E731
                else:
                    clf, _ = fit_descriptors(fa.X[fit][:, keep], fa.y[fit], ds_a.classes, config, seed=seed,
                                             **settings)
                    predict = lambda X: clf.probabilities(X).argmax(1)  # noqa: E731
                within.append(float((predict(fa.X[test][:, keep]) == fa.y[test]).mean()))
                across.append(float((predict(fb.X[:, keep]) == fb.y).mean()))
            print(f"{variant:12s} {name_a} -> {name_b}: within {np.mean(within):.3f}  across {np.mean(across):.3f} "
                  f"({' '.join(f'{v:.3f}' for v in across)})  {(time.process_time() - t0) / a.seeds:.1f} CPU-s/seed"
                  f"   [{what}]", flush=True)


if __name__ == "__main__":
    main()
