"""Does a classifier hear the instrument or the recording? Train on melodies rendered
with one sample bank, test on held-out melodies of the same bank ("within") and on every
melody rendered with another bank ("across"), with parts of the training recipe
switched on and off.

    autograd-lab data instruments --out /tmp/inst/tim --soundfont timgm6mb --per-class 50 --seed 1
    autograd-lab data instruments --out /tmp/inst/ms --soundfont musescore --per-class 50 --seed 2
    python docs/instrument_ablation.py --bank /tmp/inst/tim --bank /tmp/inst/ms --variant defaults ...

Each run does what `autograd-lab train --data BANK` does (features chosen from the data,
fold 0 of a stratified 5-fold split as the within-bank test set) and then what
`autograd-lab evaluate --data OTHER --split all` does, and prints one line: variant,
training bank, within accuracy, across accuracy, best epoch, seconds. With
`--both`, it also trains on the training folds of both banks at once. The table in
docs/audio.md comes from these lines.
"""
import argparse
import dataclasses
import os
import sys
import tempfile

import numpy as np

import autograd_lab as al
from autograd_lab.audio.classifier import AudioClassifier, Recipe
from autograd_lab.audio.datasets import AudioDataset
from autograd_lab.audio.survey import choose_features, survey

#: name -> changes to the default Recipe (see al.audio.Recipe for each field)
VARIANTS = {
    "defaults": {},
    "eq20": {"eq_db": 20.0},
    "filter": {"filter_db": 30.0},
    "reverb": {"reverb": 1.0},
    "filter-reverb": {"filter_db": 30.0, "reverb": 1.0},
    "eq20-filter-reverb": {"eq_db": 20.0, "filter_db": 30.0, "reverb": 1.0},
    "no-eq": {"eq_db": 0.0},
    "no-reverb": {"reverb": 0.0},
    "no-eq-no-reverb": {"eq_db": 0.0, "reverb": 0.0},
    "no-warp": {"warp": 0.0},
    "no-stretch": {"stretch": None},
    "no-masks": {"time_masks": 0, "freq_masks": 0},
    "band-norm": {"normalization": "band"},
    "global-norm": {"normalization": "global"},
    "mixup": {"mixup": 0.2},
    "no-augment": {"augment": False},
}


def recipe_of(variant):
    changes = dict(VARIANTS[variant])
    fields = {f.name for f in dataclasses.fields(Recipe)}
    unknown = set(changes) - fields
    if unknown:                   # a variant of a part this version's Recipe does not have
        raise SystemExit(f"variant {variant!r} changes {sorted(unknown)}, which Recipe does not have")
    return dataclasses.replace(Recipe(), **changes)


def combined(a, b):
    """One dataset of the clips of a and b (same class names)."""
    assert a.classes == b.classes, (a.classes, b.classes)
    return AudioDataset(a.root, list(a.files) + list(b.files), list(a.labels) + list(b.labels), a.classes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bank", action="append", required=True,
                        help="a folder written by `autograd-lab data instruments` (give two)")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--train-on", type=int, action="append", default=None,
                        help="index of the bank to train on (default: each in turn)")
    parser.add_argument("--both", action="store_true", help="also train on both banks' training folds")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    banks = [al.audio.AudioFolder(path) for path in args.bank]
    splits = [bank.kfold(5, seed=0)[0] for bank in banks]
    for variant in args.variant:
        recipe = recipe_of(variant)
        runs = [(k,) for k in (args.train_on or range(len(banks)))]
        if args.both:
            runs.append(tuple(range(len(banks))))
        for run in runs:
            train = banks[run[0]].subset(splits[run[0]][0])
            test = banks[run[0]].subset(splits[run[0]][1])
            for k in run[1:]:
                train = combined(train, banks[k].subset(splits[k][0]))
                test = combined(test, banks[k].subset(splits[k][1]))
            config, _ = choose_features(survey(banks[run[0]]))
            out = tempfile.mkdtemp()
            metrics = al.audio.train_classifier(train, test, config=config, epochs=args.epochs, seed=args.seed,
                                                recipe=recipe, out=out, progress=False, log=lambda *_: None,
                                                write_files=False)
            best = AudioClassifier.load(os.path.join(out, "model.safetensors"))
            across = []
            for k, bank in enumerate(banks):
                if k in run:
                    continue
                clips = al.audio.extract_clips(bank, config, progress=False)
                y = np.asarray([best.classes.index(bank.classes[c]) for c in clips.y])
                across.append(f"{best.evaluate_clips(clips, y)['accuracy']:.3f}")
            name = "+".join(os.path.basename(os.path.normpath(args.bank[k])) for k in run)
            print(f"{variant}\t{name}\t{metrics['test']['accuracy']:.3f}\t{','.join(across) or '-'}\t"
                  f"{metrics['best_epoch']}\t{metrics['seconds']:.0f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
