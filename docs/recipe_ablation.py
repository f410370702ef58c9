"""Which parts of the training recipe help a classifier generalise: leave-one-speaker-out
on the Free Spoken Digit Dataset, with the parts of the speech recipe (what
`autograd-lab train` uses on this layout) changed one at a time.

    python docs/recipe_ablation.py --speaker nicolas --variant defaults --variant no-warp ...

Each run trains on the other speakers with the features `autograd-lab train` chooses for
this data, tests on every recording of the held-out speaker, and prints one line:
variant, speaker, test accuracy, best epoch, seconds. The table in docs/audio.md comes
from these lines.
"""
import argparse
import dataclasses
import os
import sys
import tempfile

import autograd_lab as al
from autograd_lab.audio.classifier import SPEECH_MODEL, SPEECH_RECIPE, Recipe
from autograd_lab.audio.survey import choose_features, survey

VARIANTS = {                          # changes to the speech defaults (SPEECH_RECIPE, SPEECH_MODEL)
    "defaults": {},
    "clip-norm": {"normalization": "clip", "eq_db": 10.0},          # the defaults of other sounds
    "global-pool": {"pool": "global"},
    "wide-stretch": {"stretch": (0.8, 1.25)},
    "global-norm": {"normalization": "global"},
    "band-norm": {"normalization": "band"},
    "no-eq": {"eq_db": 0.0},
    "band-no-eq": {"normalization": "band", "eq_db": 0.0},
    "no-stretch": {"stretch": None},
    "no-warp": {"warp": 0.0},
    "no-stretch-no-warp": {"stretch": None, "warp": 0.0},
    "no-masks": {"time_masks": 0, "freq_masks": 0},
    "no-augment": {"augment": False},
    "no-smoothing": {"label_smoothing": 0.0},
    "mixup": {"mixup": 0.2},
    "no-warmup": {"warmup": 0},
    "no-noise": {"noise_db": None},
    "floor-pad": {"pad": "floor"},                                  # a feature setting: FeatureConfig.pad
    "old-recipe": {"normalization": "global", "stretch": None, "warp": 0.0, "gain_db": 0.0, "eq_db": 0.0,
                   "time_masks": 1, "freq_masks": 1, "label_smoothing": 0.0, "warmup": 0,
                   "weight_decay": 1e-4},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                       "data", "fsdd"))
    parser.add_argument("--speaker", action="append", required=True)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--epochs", type=int, default=None, help="default: as `autograd-lab train` chooses")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    everything = al.audio.FSDD(args.data, "all")
    config, _ = choose_features(survey(everything))
    for variant in args.variant:
        change = dict(VARIANTS[variant])
        model_kwargs = {**SPEECH_MODEL, **({"pool": change.pop("pool")} if "pool" in change else {})}
        features = dataclasses.replace(config, pad=change.pop("pad")) if "pad" in change else config
        recipe = dataclasses.replace(Recipe(), **{**SPEECH_RECIPE, **change})
        for speaker in args.speaker:
            others = [s for s in everything.all_speakers if s != speaker]
            metrics = al.audio.train_classifier(
                al.audio.FSDD(args.data, "all", speakers=others), al.audio.FSDD(args.data, "all", speakers=[speaker]),
                config=features, epochs=args.epochs, seed=args.seed, recipe=recipe, out=tempfile.mkdtemp(),
                progress=False, log=lambda *_: None, write_files=False, model_kwargs=model_kwargs)
            print(f"{variant}\t{speaker}\t{metrics['test']['accuracy']:.3f}\t{metrics['best_epoch']}\t"
                  f"{metrics['seconds']:.0f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
