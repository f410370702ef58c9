"""The `autograd-lab` command (also `python -m autograd_lab`).

  autograd-lab demo                        train a CNN on synthetic sounds, write every picture
  autograd-lab train --data PATH|synthetic train a classifier on a folder of recordings
  autograd-lab evaluate --checkpoint C --data PATH
  autograd-lab predict --checkpoint C FILE...   [--json: class probabilities, one JSON line per file]
  autograd-lab cv --data PATH [--group-by FIELD]  k-fold cross-validation, mean ± std
  autograd-lab export CHECKPOINT OUT.onnx    the classifier as ONNX, raw audio in (or --web DIR: a page)
  autograd-lab tour                        the engine in five steps (micrograd's example, ...)
  autograd-lab playground                  TF Playground on our engine, in the browser
  autograd-lab data instruments --out DIR  render melodies of eight instruments (needs FluidSynth)

Bad arguments and bad data end with one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np

SYNTHETIC = "synthetic"


class UsageError(Exception):
    """A problem with what the user asked for, reported as one line."""


# ---- datasets from the command line ---------------------------------------------------
def detect_format(path) -> str:
    """"fsdd" if the folder holds FSDD's digit_speaker_index.wav names, else "folder"."""
    from .audio.datasets import find_fsdd_recordings
    return "fsdd" if find_fsdd_recordings(path) else "folder"


def open_data(args):
    """The whole dataset named by --data (and its format: "synthetic", "fsdd" or "folder")."""
    from .audio import datasets
    if args.data == SYNTHETIC:
        return datasets.SyntheticSounds(args.n_per_class, "train", seed=args.seed), SYNTHETIC
    if not os.path.exists(args.data):
        raise UsageError(f"--data: no such folder: {args.data}")
    if not os.path.isdir(args.data):
        raise UsageError(f"--data: {args.data} is a file; give a folder of recordings")
    fmt = args.format or detect_format(args.data)
    if fmt == "fsdd":
        return datasets.FSDD(args.data, "all"), fmt
    return datasets.AudioFolder(args.data), fmt


def open_datasets(args, split):
    """(train set, test set) for `train`; (set, None) for evaluate, by --split."""
    from .audio import datasets
    held = getattr(args, "test_speaker", None)
    if args.data == SYNTHETIC:
        if held:
            raise UsageError("--test-speaker: the synthetic sounds have no speakers")
        n = args.n_per_class
        if split == "train":
            return (datasets.SyntheticSounds(n, "train", seed=args.seed),
                    datasets.SyntheticSounds(max(n // 3, 5), "test", seed=args.seed))
        return datasets.SyntheticSounds(max(n // 3, 5), "test", seed=args.seed), None
    everything, fmt = open_data(args)
    if fmt == "fsdd":
        if split == "train":
            if held:
                if held not in everything.all_speakers:
                    raise UsageError(f"--test-speaker: {held!r} is not among {everything.all_speakers}")
                kept = [s for s in everything.all_speakers if s != held]
                return (datasets.FSDD(args.data, "all", speakers=kept),
                        datasets.FSDD(args.data, "all", speakers=[held]))
            return datasets.FSDD(args.data, "train"), datasets.FSDD(args.data, "test")
        return datasets.FSDD(args.data, split), None
    if held:
        raise UsageError(f"--test-speaker works with the spoken-digit layout ({{digit}}_{{speaker}}_{{index}}.wav); "
                         f"{args.data} is a folder of class folders: use `autograd-lab cv --group-by FIELD` "
                         "to keep a speaker or source recording on one side of the split")
    if split == "all":
        return everything, None
    if split == "train":
        _check_small_classes(everything)
    train_idx, test_idx = everything.kfold(args.folds, seed=args.seed)[args.fold]
    if split == "test":
        return everything.subset(test_idx), None
    return everything.subset(train_idx), everything.subset(test_idx)


def _check_small_classes(dataset):
    """One class only, or a class with one clip: say so before any work (naming the files)."""
    counts = np.bincount(dataset.labels, minlength=len(dataset.classes))
    if len(dataset.classes) < 2:
        raise UsageError(f"--data: {dataset.root} has only one class folder ({dataset.classes[0]!r}); "
                         "a classifier needs at least two")
    single = [(c, dataset.files[int(np.flatnonzero(dataset.labels == k)[0])])
              for k, c in enumerate(dataset.classes) if counts[k] == 1]
    if single:
        names = "; ".join(f"{c!r}: {path}" for c, path in single)
        raise UsageError(f"--data: {len(single)} class(es) have a single clip ({names}); a class needs at "
                         "least two clips, one to learn from and one to test on")


def _prepare_out(out):
    """Create --out now, so a bad path fails before minutes of feature extraction."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out: {out} is a file; give a folder (it is created if missing)")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out: cannot create {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out: {out} is not writable")


def choose_config(args, *datasets_):
    """The feature settings for these datasets (flags win), printed with the reasons."""
    import dataclasses
    from .audio.survey import choose_features, problems, survey
    from .audio.prepare import FeatureConfig
    from .audio.datasets import SyntheticSounds
    given = {"sr": args.sr, "duration": args.duration, "n_fft": args.n_fft, "hop_length": args.hop_length,
             "n_mels": args.n_mels, "front_end": args.front_end, "pad": getattr(args, "pad", None)}
    found = None
    parts = [survey(d) for d in datasets_ if d is not None]
    parts = [p for p in parts if p is not None]
    if parts:
        from .audio.survey import Survey
        found = Survey(sum((p.files for p in parts), []), np.concatenate([p.rates for p in parts]),
                       np.concatenate([p.durations for p in parts]),
                       np.concatenate([p.channels for p in parts]), sum((p.unreadable for p in parts), []))
    default = FeatureConfig()
    if isinstance(datasets_[0], SyntheticSounds):
        default = FeatureConfig(sr=datasets_[0].params["sr"], duration=datasets_[0].params["duration"])
    speech_cnn = is_speech(args) and getattr(args, "model", "cnn") in ("cnn", "auto") and given["pad"] is None
    if speech_cnn:
        from .audio.classifier import SPEECH_FEATURES
        default = dataclasses.replace(default, **SPEECH_FEATURES)
    config, reasons = choose_features(found, given, default)
    if speech_cnn:
        reasons.append(f"pad {config.pad} (speech: a short clip is padded with its own noise floor, so where a "
                       "noisy recording starts and ends does not stand out; --pad silence overrides)")
    if not args.quiet:
        what = f"{len(found)} files" if found is not None else "the data"
        print(f"features, chosen from {what} (every flag overrides):")
        for line in reasons:
            print(f"  {line}")
    for problem in problems(found, config):
        warnings.warn(problem)
    return config


def is_speech(args) -> bool:
    """Recordings of speech: the spoken-digit layout ({digit}_{speaker}_{index}.wav)."""
    if args.data == SYNTHETIC:
        return False
    return (args.format or detect_format(args.data)) == "fsdd"


def recipe_from(args, speech=False):
    """The training recipe: Recipe()'s defaults, SPEECH_RECIPE's for speech, then the flags given."""
    import dataclasses
    from .audio.classifier import SPEECH_RECIPE, Recipe
    default = dataclasses.replace(Recipe(), **SPEECH_RECIPE) if speech else Recipe()
    return Recipe(normalization=args.normalize or default.normalization, random_crop=not args.no_random_crop,
                  augment=not args.no_augment, stretch=None if args.no_stretch else default.stretch,
                  warp=0.0 if args.no_warp else default.warp, pitch_shift=args.pitch_shift,
                  eq_db=0.0 if args.no_eq else (default.eq_db if args.eq_db is None else args.eq_db),
                  filter_db=0.0 if args.no_filter else args.filter_db,
                  reverb=0.0 if args.no_reverb else args.reverb,
                  noise_db=None if args.no_noise else (tuple(args.noise_db) if args.noise_db else default.noise_db),
                  mixup=args.mixup, label_smoothing=args.label_smoothing,
                  warmup=args.warmup, weight_decay=args.weight_decay, patience=args.patience)


def model_kwargs_from(args, speech=False):
    from .audio.classifier import SPEECH_MODEL
    if args.model not in ("cnn", "auto"):        # "auto" before choose_model: the CNN unless the data is music
        return None
    return {"pool": args.pool or (SPEECH_MODEL["pool"] if speech else "global")}


def _say_recipe(args, recipe, model_kwargs, speech):
    if args.quiet:
        return
    pool = f", {model_kwargs['pool']} pooling" if model_kwargs else ""
    stretch = "no stretch" if not recipe.augment or recipe.stretch is None else \
        f"stretch {recipe.stretch[0]:g}-{recipe.stretch[1]:g}x"
    colouring = f"colouring +-{recipe.eq_db:g} dB" if recipe.eq_db and recipe.augment else "no colouring"
    noise = f"noise floor {recipe.noise_db[0]:g}-{recipe.noise_db[1]:g} dB down" \
        if recipe.noise_db and recipe.augment else "no added noise"
    print(f"recipe{' for speech (the spoken-digit layout)' if speech else ''}: {recipe.normalization} scaling, "
          f"{colouring}, {noise}, {stretch}{pool} (every flag overrides; see --help)")


# ---- commands -------------------------------------------------------------------------
def _threads(args):
    from . import kernels
    if args.threads:
        kernels.set_num_threads(args.threads)


#: --model's choices; "auto" picks the descriptor model for music-like folders, else the CNN.
MODELS = ("auto", "cnn", "mlp", "descriptors")


def choose_model(args, dataset) -> str:
    """The model --model names, or for "auto" the one the data asks for, printed with the
    reason: the descriptor model (audio/descriptor_classifier.py) for a folder whose clips
    hold steady pitched notes (`descriptors.music_likeness`), where it heard instruments
    across recordings that the CNN did not (docs/audio.md); the CNN for anything else
    (speech, sound events, clips made in code), and whenever a flag of the spectrogram
    models' features or recipe is given."""
    spectrogram_flags = _spectrogram_flags_given(args) if args.model in ("auto", "descriptors") else []
    if args.model == "descriptors" and spectrogram_flags:
        raise UsageError(f"--model descriptors: {', '.join(spectrogram_flags)} apply to the spectrogram models "
                         "(cnn, mlp) only; drop them or choose --model cnn")
    if args.model != "auto":
        model, why = args.model, "given"
    elif spectrogram_flags:
        model, why = "cnn", f"spectrogram flags given: {', '.join(spectrogram_flags)}"
    elif args.data == SYNTHETIC:
        model, why = "cnn", "clips made in code"
    elif (args.format or detect_format(args.data)) == "fsdd":
        model, why = "cnn", "speech (the spoken-digit layout)"
    else:
        from .audio.descriptors import music_likeness
        music, found = music_likeness(dataset)
        model = "descriptors" if music else "cnn"
        why = found + ("; music-like: clip descriptors carry over to other recordings of an instrument"
                       if music else "; not music-like: the spectrogram CNN")
    if not args.quiet:
        print(f"model: {model} ({why}; --model overrides)")
    return model


# Flags that only the spectrogram models (cnn, mlp) use: given with --model auto they ask for the CNN.
SPECTROGRAM_FLAGS = ("front_end", "sr", "duration", "n_fft", "hop_length", "n_mels", "pad", "pool", "epochs",
                     "batch_size", "normalize", "no_augment", "no_stretch", "no_warp", "pitch_shift", "eq_db",
                     "no_eq", "filter_db", "no_filter", "reverb", "no_reverb", "noise_db", "no_noise",
                     "no_random_crop", "mixup", "label_smoothing", "warmup", "weight_decay", "patience")


def _spectrogram_flags_given(args) -> list:
    """The SPECTROGRAM_FLAGS set to other than their defaults, as --option names."""
    defaults = build_parser().parse_args([args.command, "--data", "x"])
    return ["--" + name.replace("_", "-") for name in SPECTROGRAM_FLAGS
            if hasattr(args, name) and getattr(args, name) != getattr(defaults, name)]


def _train_descriptors(args, train_set, test_set, out, write_files=True):
    """Train the descriptor model (`--model descriptors`); the feature and recipe flags of
    the CNN do not apply to it."""
    from .audio.descriptor_classifier import train_descriptor_classifier
    from .audio.descriptors import DescriptorConfig
    config = DescriptorConfig()
    if not args.quiet:
        print(f"descriptors: {len(config.names())} per clip at {config.sr} Hz (MFCC 1-{config.n_mfcc - 1} mean and "
              f"spread, harmonics 1-{config.n_harmonics} at the detected fundamental, 5 envelope statistics); "
              "the spectrogram and recipe flags do not apply")
    return train_descriptor_classifier(train_set, test_set, config=config, out=out, seed=args.seed, lr=args.lr,
                                       use_cache=not args.no_cache, strict=args.strict, progress=not args.quiet,
                                       write_files=write_files, log=(lambda *_: None) if args.quiet else _log)


def train(args) -> int:
    from .audio import train_classifier
    _prepare_out(args.out)
    _threads(args)
    train_set, test_set = open_datasets(args, "train")
    args.model = choose_model(args, train_set)
    if args.model == "descriptors":
        print(f"train: {train_set.describe()}; test: {test_set.describe()}")
        _report(_train_descriptors(args, train_set, test_set, args.out, write_files=not getattr(args, "no_pictures", False)),
                args.out)
        return 0
    config = choose_config(args, train_set, test_set)
    speech = is_speech(args) and args.model == "cnn"     # the speech recipe was measured with the CNN
    recipe, model_kwargs = recipe_from(args, speech), model_kwargs_from(args, speech)
    _say_recipe(args, recipe, model_kwargs, speech)
    print(f"train: {train_set.describe()}; test: {test_set.describe()}")
    metrics = train_classifier(train_set, test_set, model=args.model, config=config, epochs=args.epochs,
                               batch_size=args.batch_size, lr=args.lr, seed=args.seed, out=args.out,
                               recipe=recipe, use_cache=not args.no_cache,
                               strict=args.strict, progress=not args.quiet, model_kwargs=model_kwargs,
                               log=(lambda *_: None) if args.quiet else _log,
                               write_files=not getattr(args, "no_pictures", False))     # demo has no flag
    _report(metrics, args.out)
    return 0


def _log(*parts):
    from tqdm.auto import tqdm
    tqdm.write(" ".join(map(str, parts)))


def _report(metrics, out):
    test = metrics.get("test")
    if metrics["epochs_run"]:
        print(f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}, {metrics['seconds']:.0f} s")
    else:
        print(f"trained in {metrics['seconds']:.0f} s")
    if test:
        print(f"test accuracy: {test['accuracy']:.3f} ({test['n']} clips)")
    print(f"written to {os.path.abspath(out)}:")
    for path in ["metrics.json", "model.safetensors"] + [os.path.basename(p) for p in metrics["pictures"]]:
        print(f"  {os.path.join(os.path.abspath(out), path)}")


def _class_table(classes, recall):
    return [f"  {name:>20}  {'-' if recall[name] is None else f'{recall[name]:.3f}'}" for name in classes]


def evaluate(args) -> int:
    from .audio import AudioClassifier
    classifier = AudioClassifier.load(args.checkpoint)
    dataset, _ = open_datasets(args, args.split)
    missing = sorted(set(dataset.classes) - set(classifier.classes))
    if missing:
        raise UsageError(f"{args.data}: classes {missing} are unknown to the checkpoint "
                         f"(it knows {classifier.classes})")
    clips = classifier.extract(dataset, use_cache=not args.no_cache, strict=args.strict, progress=not args.quiet)
    # the dataset's class numbers -> the checkpoint's
    y = np.asarray([classifier.classes.index(dataset.classes[k]) for k in clips.y])
    result = classifier.evaluate_clips(clips, y)
    print(f"accuracy: {result['accuracy']:.3f}   ({result['n']} clips, {dataset.describe()})")
    print("per-class recall:")
    print("\n".join(_class_table(classifier.classes, result["recall"])))
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(len(str(v)) for row in result["confusion"] for v in row) + 1
    for name, row in zip(classifier.classes, result["confusion"]):
        print(f"  {name:>20} " + "".join(f"{v:>{width}}" for v in row))
    return 0


def predict(args) -> int:
    from .audio import AudioClassifier, AudioFileError
    classifier = AudioClassifier.load(args.checkpoint)
    failed = 0
    for path in args.files:
        try:
            label, probabilities = classifier.predict_file(path)
        except AudioFileError as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps({"file": str(path), "label": label, "probabilities": probabilities}))
            continue
        top = ", ".join(f"{name} {p:.3f}" for name, p in list(probabilities.items())[:args.top])
        print(f"{path}: {label}   ({top})")
    return 2 if failed else 0


def cv(args) -> int:
    """k-fold cross-validation: a model trained per fold, tested on that fold's clips."""
    import json
    from .audio import splits, train_classifier
    from .audio.classifier import check_classes
    _prepare_out(args.out)
    _threads(args)
    if args.data == SYNTHETIC:
        raise UsageError("cv: give a folder of recordings (the synthetic sounds have their own test set)")
    dataset, fmt = open_data(args)
    if fmt == "folder":
        _check_small_classes(dataset)
    check_classes(dataset)
    groups = splits.groups_of(dataset, args.group_by) if args.group_by else None
    fold_of, source = (None, "not asked for") if args.folds_from == "none" else \
        splits.predefined_folds(dataset, args.folds_from)
    if fold_of is not None:
        folds = splits.folds_from_assignment(fold_of)
        how = f"predefined folds from {source}"
        if groups is not None:
            crossing = {g for g in set(groups) if len({int(f) for f, h in zip(fold_of, groups) if h == g}) > 1}
            if crossing:
                warnings.warn(f"--group-by {args.group_by}: {len(crossing)} groups lie in more than one "
                              f"predefined fold (e.g. {sorted(crossing)[:3]}); the predefined folds are kept")
    elif groups is not None:
        folds = splits.group_kfold(groups, args.folds, seed=args.seed)
        how = f"{args.folds} folds of whole groups (--group-by {args.group_by}: {len(set(groups))} groups)"
    else:
        folds = splits.kfold(dataset.labels, args.folds, seed=args.seed)
        how = f"stratified {args.folds}-fold ({source})"
    if args.max_folds:
        folds = folds[:args.max_folds]
    args.model = choose_model(args, dataset)
    descriptors = args.model == "descriptors"
    config = None if descriptors else choose_config(args, dataset)
    speech = fmt == "fsdd" and args.model == "cnn"
    recipe, model_kwargs = recipe_from(args, speech), model_kwargs_from(args, speech)
    if not descriptors:
        _say_recipe(args, recipe, model_kwargs, speech)
    print(f"cv: {dataset.describe()}, {how}")
    results = []
    for k, (train_idx, test_idx) in enumerate(folds):
        out = os.path.join(args.out, f"fold-{k}")
        print(f"fold {k + 1} of {len(folds)}: {len(train_idx)} training clips, {len(test_idx)} test clips")
        if descriptors:
            metrics = _train_descriptors(args, dataset.subset(train_idx), dataset.subset(test_idx), out,
                                         write_files=False)
        else:
            metrics = train_classifier(dataset.subset(train_idx), dataset.subset(test_idx), model=args.model,
                                       config=config, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                       seed=args.seed, out=out, recipe=recipe, model_kwargs=model_kwargs,
                                       use_cache=not args.no_cache, strict=args.strict, progress=not args.quiet,
                                       log=(lambda *_: None) if args.quiet else _log,
                                       groups=None if groups is None else [groups[i] for i in train_idx],
                                       write_files=False)
        test = metrics["test"]
        results.append({"fold": k, "train": [dataset.files[i] if dataset.files[i] else int(i) for i in train_idx],
                        "test": [dataset.files[i] if dataset.files[i] else int(i) for i in test_idx],
                        "accuracy": test["accuracy"], "n": test["n"], "recall": test["recall"],
                        "confusion": test["confusion"], "best_epoch": metrics["best_epoch"],
                        "seconds": metrics["seconds"]})
        print(f"fold {k + 1}: test accuracy {test['accuracy']:.3f} ({test['n']} clips)")
    accuracies = np.asarray([r["accuracy"] for r in results])
    print(f"\naccuracy over {len(results)} folds: {accuracies.mean():.3f} ± {accuracies.std():.3f} "
          f"(min {accuracies.min():.3f}, max {accuracies.max():.3f})")
    print("per-class recall, mean ± std over the folds that hold the class:")
    summary = {}
    for name in dataset.classes:
        values = np.asarray([r["recall"][name] for r in results if r["recall"][name] is not None])
        summary[name] = [float(values.mean()), float(values.std())] if len(values) else None
        shown = "-" if not len(values) else f"{values.mean():.3f} ± {values.std():.3f}"
        print(f"  {name:>20}  {shown}")
    with open(os.path.join(args.out, "cv.json"), "w") as f:
        json.dump({"how": how, "model": args.model, "features": config.to_dict() if config else None,
                   "folds": results,
                   "mean": float(accuracies.mean()), "std": float(accuracies.std()),
                   "per_class": summary}, f, indent=1)
    print(f"written to {os.path.abspath(os.path.join(args.out, 'cv.json'))}")
    return 0


def export(args) -> int:
    """The classifier as an ONNX file, and/or as a static web page that runs it."""
    from .audio import AudioClassifier
    from .interop import onnx
    from .interop.web import export_web
    if args.out is None and args.web is None:
        raise UsageError("give OUT.onnx, --web DIR, or both")
    classifier = AudioClassifier.load(args.checkpoint)
    if getattr(classifier, "onnx_refusal", None):
        raise UsageError(f"{args.checkpoint}: {classifier.onnx_refusal}")
    if args.out is not None:
        onnx.export(classifier, args.out, features_input=args.features_input)
        what = "log-mel features (batch, 1, n_mels, frames)" if args.features_input else \
            f"raw mono audio (batch, samples) at {classifier.config.sr} Hz"
        print(f"wrote {os.path.abspath(args.out)}: input {what}, output probabilities of "
              f"{len(classifier.classes)} classes")
    if args.web is not None:
        if args.features_input:
            raise UsageError("--web takes raw audio; leave out --features-input")
        if os.path.isfile(args.web):
            raise UsageError(f"--web: {args.web} is a file; give a folder")
        page = export_web(classifier, args.web)
        print(f"wrote {os.path.abspath(page)} (with model.onnx and onnxruntime-web in ort/)\n"
              f"serve it, e.g. `python -m http.server --directory {args.web}`, and open http://localhost:8000")
    return 0


def demo(args) -> int:
    """Train the CNN on synthetic sound events and write every picture."""
    args.data, args.format, args.model = SYNTHETIC, None, "cnn"
    args.test_speaker = None
    print("autograd-lab demo: a CNN learns to tell nine kinds of sound events apart\n"
          f"(synthetic clips made in code: {args.n_per_class} per class for training)\n")
    code = train(args)
    print("\nopen the pictures above; `autograd-lab predict --checkpoint "
          f"{os.path.join(args.out, 'model.safetensors')} FILE.wav` labels your own recordings")
    return code


def tour(args) -> int:
    """A tour of the engine: micrograd's example, a trained network, a second derivative."""
    import autograd_lab as al

    print("1. micrograd's example on al.Value: L = (a*b + c) * f")
    a, b, c, f = (al.Value(v, label=n) for v, n in ((2.0, "a"), (-3.0, "b"), (10.0, "c"), (-2.0, "f")))
    e = a * b; e.label = "e"
    d = e + c; d.label = "d"
    L = d * f; L.label = "L"
    L.backward()
    for v in (a, b, c, e, d, f, L):
        print(f"   {v.label}: data {v.data:6.1f}   grad {v.grad:6.1f}")

    print("\n2. a 2-16-16-1 tanh network on tensors, trained by gradient descent on XOR-like points")
    rng = np.random.default_rng(args.seed)
    X = rng.uniform(-1, 1, size=(200, 2)).astype(np.float32)
    y = (X[:, :1] * X[:, 1:] > 0).astype(np.float32)
    sizes = (2, 16, 16, 1)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append(al.tensor(rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)), dtype=np.float32,
                                requires_grad=True))
        params.append(al.tensor(np.zeros(n_out), dtype=np.float32, requires_grad=True))
    inputs, targets = al.tensor(X), al.tensor(y)
    for step in range(args.steps + 1):
        h = inputs
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k < len(params) - 2:
                h = h.tanh()
        p = h.sigmoid().clip(1e-7, 1 - 1e-7)
        loss = -(targets * p.log() + (1 - targets) * (1 - p).log()).mean()   # binary cross-entropy
        loss.backward()
        for w in params:
            w.data -= args.lr * w.grad
            w.grad = None
        if step % max(args.steps // 5, 1) == 0:
            accuracy = float(((p.data > 0.5) == (y > 0.5)).mean())
            print(f"   step {step:4d}   loss {loss.item():.4f}   accuracy {accuracy:.3f}")

    print("\n3. the backward pass is a graph too: d2/dx2 tanh(x) at x = 0.5")
    x = al.tensor(0.5, dtype=np.float64, requires_grad=True)
    (dx,) = al.grad(x.tanh(), x, create_graph=True)
    (d2x,) = al.grad(dx, x)
    t = np.tanh(0.5)
    print(f"   engine {float(d2x.data):.10f}   formula -2 tanh(x)(1 - tanh(x)^2) = {-2 * t * (1 - t * t):.10f}")
    print(f"   the gradient's graph has {len(al.topological_order(dx))} nodes")

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    print(f"\n4. pictures of example 1, in {out}:")
    for path in (al.draw(L).save(os.path.join(out, "forward.svg")),
                 al.draw(L, mode="backward").save(os.path.join(out, "backward.svg")),
                 al.draw(L, mode="backward").save(os.path.join(out, "backward.png")),
                 al.viz.save_backprop_html(L, os.path.join(out, "backprop_steps.html"))):
        print(f"   {path}")
    print("\n5. the chain rule, spelled out by al.explain:")
    for leaf in (a, b, c, f):
        print(f"   {al.explain(L, leaf)}")
    return 0


def playground(args) -> int:
    """Serve the playground page on 127.0.0.1 until Ctrl-C or until the page is closed."""
    import urllib.parse
    from .playground import SettingsError, serve
    settings = {k: v[-1] for k, v in urllib.parse.parse_qs(args.settings.lstrip("?")).items()}
    try:
        return serve(port=args.port, open_browser=not args.no_browser, settings=settings)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


# ---- arguments ------------------------------------------------------------------------
def _number(kind, allowed, rule):
    """An argparse type: `kind(text)` for which `allowed(value)` holds, else an error saying `rule`."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            name = "whole number" if kind is int else kind.__name__
            raise argparse.ArgumentTypeError(f"expected a {name}, got {text!r}") from None
        if not allowed(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value
    return parse


def _positive(kind):
    return _number(kind, lambda value: value > 0, "positive")


def _not_negative(kind):
    return _number(kind, lambda value: value >= 0, "0 (off) or more")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Each option's default in its help line (when it has one worth showing)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not any(action.default is v for v in (None, False, argparse.SUPPRESS)) and "%(default)" not in text \
                and action.option_strings:
            text += " (default: %(default)s)"
        return text


def _training_options(p, epochs, n_per_class, out, batch_size=None):
    from .audio.classifier import DEFAULT_BATCH, DEFAULT_EPOCHS, MAX_EPOCHS, MIN_STEPS
    small = f"at least {MIN_STEPS} steps"
    p.add_argument("--epochs", type=_positive(int), default=epochs,
                   help="passes over the training clips" if epochs else
                   f"passes over the training clips (default: {DEFAULT_EPOCHS}, more on small data: {small}, "
                   f"at most {MAX_EPOCHS})")
    p.add_argument("--batch-size", type=_positive(int), default=batch_size,
                   help="clips per training step" if batch_size else
                   f"clips per training step (default: {DEFAULT_BATCH}; without --epochs, halved down to 16 on "
                   f"small data until {DEFAULT_EPOCHS} epochs make {small})")
    p.add_argument("--lr", type=_positive(float), default=3e-3, help="peak learning rate (AdamW)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and augmentation")
    p.add_argument("--out", default=out, help="folder for the checkpoint, metrics and pictures")
    p.add_argument("--n-per-class", type=_positive(int), default=n_per_class,
                   help="clips per class for --data synthetic")
    p.add_argument("--pool", choices=("global", "time"), default=None,
                   help="cnn: average the last feature maps over time and frequency (global), or over "
                        "time only, keeping the bands apart (time) (default: global), time for speech")
    p.add_argument("--threads", type=_positive(int), default=None, help="worker threads for the kernels")
    _recipe_options(p)
    _feature_options(p)
    _data_options(p)


def _recipe_options(p):
    from .audio.classifier import SPEECH_RECIPE, Recipe
    from .audio.prepare import NORMALIZATIONS
    default = Recipe()
    g = p.add_argument_group("training recipe (what makes the classifier generalise; see docs/audio.md)")
    g.add_argument("--normalize", choices=NORMALIZATIONS, default=None,
                   help=f"input scaling (default: {default.normalization}); cmvn for speech (the spoken-digit "
                        "layout) with the cnn. clip: per window; band: per window and mel band; cmvn: each "
                        "band by its own mean and spread; global: one mean/std for all")
    g.add_argument("--no-augment", action="store_true",
                   help="no time shifts, masks, gains, colouring, filtering, reverberation, stretches or warps")
    g.add_argument("--no-stretch", action="store_true",
                   help="no random time stretch (0.8-1.25x; speech 0.9-1.1x)")
    g.add_argument("--no-warp", action="store_true",
                   help="no random frequency warp (+-10%%: vocal-tract-length perturbation)")
    g.add_argument("--pitch-shift", type=_not_negative(int), default=default.pitch_shift, metavar="SEMITONES",
                   help="constant-Q inputs: random transposition by up to this many semitones (0: off)")
    g.add_argument("--eq-db", type=_not_negative(float), default=None,
                   help="random colouring of the mel bands (a tilt and a ripple) within +-this many dB "
                        f"(default: {default.eq_db:g}), 0 for speech")
    g.add_argument("--no-eq", action="store_true", help="no random colouring of the mel bands")
    g.add_argument("--filter-db", type=_not_negative(float), default=default.filter_db,
                   help="random low- or high-pass roll-off (3-24 dB/octave), at most this deep: another "
                        "microphone, recorder or sample bank")
    g.add_argument("--no-filter", action="store_true", help="no random low- or high-pass filtering")
    g.add_argument("--reverb", type=_not_negative(float), default=default.reverb, metavar="SECONDS",
                   help="random reverberation with decay times (RT60) up to this long: another room")
    g.add_argument("--no-reverb", action="store_true", help="no random reverberation")
    g.add_argument("--noise-db", type=_not_negative(float), nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="random steady noise floor (white to brown) LOW..HIGH dB below each training window's "
                        "loudest bin: another microphone or room (default: off; "
                        f"{' to '.join(f'{v:g}' for v in SPEECH_RECIPE['noise_db'])} for speech)")
    g.add_argument("--no-noise", action="store_true", help="no random noise floor")
    g.add_argument("--no-random-crop", action="store_true",
                   help="train on the middle of long clips instead of a random window per epoch")
    g.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0: off)")
    g.add_argument("--label-smoothing", type=float, default=0.1, help="target mass spread over all classes")
    g.add_argument("--warmup", type=int, default=2, help="epochs of learning-rate warm-up before the cosine decay")
    g.add_argument("--weight-decay", type=float, default=1e-3, help="AdamW weight decay")
    g.add_argument("--patience", type=_positive(int), default=None,
                   help="stop after this many epochs without a better validation loss")


def _feature_options(p):
    g = p.add_argument_group("features (log-mel; chosen from the data unless given)")
    g.add_argument("--front-end", choices=("mel", "cqt"), default=None,
                   help="log-mel, or log constant-Q (one row per semitone, for music); default: mel, "
                        "unless the data folder's features.json suggests otherwise")
    g.add_argument("--sr", type=_positive(int), default=None, help="resample every clip to this rate (Hz)")
    g.add_argument("--duration", type=_positive(float), default=None,
                   help="training window in seconds (shorter clips are padded, longer ones cropped)")
    g.add_argument("--n-fft", type=_positive(int), default=None, help="STFT window in samples")
    g.add_argument("--hop-length", type=_positive(int), default=None, help="STFT hop in samples")
    g.add_argument("--n-mels", type=_positive(int), default=None, help="mel bands")
    g.add_argument("--pad", choices=("silence", "floor"), default=None,
                   help="what fills the window around a shorter clip: silence, or each band's noise floor "
                        "taken from the clip (hides where a noisy recording starts and ends) "
                        "(default: floor for the spoken-digit layout {digit}_{speaker}_{n}.wav with the CNN, "
                        "silence otherwise)")


def _data_options(p):
    p.add_argument("--format", choices=("fsdd", "folder"), default=None,
                   help="how --data is organised (detected when omitted)")
    p.add_argument("--folds", type=_positive(int), default=5, help="k of the k-fold split of a class folder")
    p.add_argument("--fold", type=int, default=0, help="which fold is the test set")
    p.add_argument("--strict", action="store_true", help="fail on an unreadable file instead of skipping it")
    p.add_argument("--no-cache", action="store_true", help="recompute features instead of using the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


MODEL_HELP = ("auto: the descriptor model for folders whose clips hold steady pitched notes (music), "
              "else the CNN; cnn: a CNN on log-mel windows; mlp: a dense network on them; descriptors: "
              "per-clip timbre, harmonic-profile and envelope descriptors and small networks (no ONNX export)")


def _command(commands, name, help, run):
    """A sub-command with the shared formatter; `run(args)` is what it does."""
    p = commands.add_parser(name, help=help, description=help, formatter_class=_Formatter)
    p.set_defaults(run=run)
    return p


def make_data(args) -> int:
    from .audio.instruments import make_instruments
    if args.out and os.path.isfile(args.out):
        raise UsageError(f"--out {args.out} is a file; give a folder")
    manifest = make_instruments(args.out, soundfont=args.soundfont, per_class=args.per_class,
                                seed=args.seed, progress=not args.quiet)
    print(f"wrote {len(manifest['clips'])} clips ({args.per_class} per instrument, "
          f"bank {manifest['soundfont']}, seed {args.seed}) to {args.out}")
    print(f"next: autograd-lab train --data {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograd-lab", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(commands, "train", "train a classifier on recordings", train)
    p.add_argument("--data", required=True, help="a folder of recordings, or 'synthetic'")
    p.add_argument("--model", choices=MODELS, default="auto", help=MODEL_HELP)
    p.add_argument("--test-speaker", default=None,
                   help="FSDD: test on this speaker, train on the others (instead of the official split)")
    p.add_argument("--no-pictures", action="store_true", help="write only the checkpoint and metrics.json")
    _training_options(p, epochs=None, n_per_class=60, out=os.path.join("out", "train"))

    p = _command(commands, "evaluate", "accuracy and confusion matrix of a checkpoint on data", evaluate)
    p.add_argument("--checkpoint", required=True, help="model.safetensors written by `train`")
    p.add_argument("--data", required=True, help="a folder of recordings, or 'synthetic'")
    p.add_argument("--split", choices=("test", "all"), default="test",
                   help="the test split, or every file found")
    p.add_argument("--seed", type=int, default=0, help="the split's seed (folders, synthetic)")
    p.add_argument("--n-per-class", type=_positive(int), default=60, help="clips per class for synthetic")
    _data_options(p)

    p = _command(commands, "predict", "label sound files of any length with a trained checkpoint", predict)
    p.add_argument("--checkpoint", required=True, help="model.safetensors written by `train`")
    p.add_argument("--top", type=_positive(int), default=3, help="how many probabilities to show")
    p.add_argument("--json", action="store_true",
                   help='one JSON line per file: {"file": ..., "label": ..., "probabilities": {class: p}}')
    p.add_argument("files", nargs="+", metavar="FILE", help="sound files")

    p = _command(commands, "cv", "k-fold cross-validation: mean ± std and per-class recall", cv)
    p.add_argument("--data", required=True, help="a folder of recordings")
    p.add_argument("--model", choices=MODELS, default="auto", help=MODEL_HELP)
    p.add_argument("--folds-from", choices=("auto", "csv", "prefix", "none"), default="auto",
                   help="predefined folds: folds.csv in --data, a file-name prefix 'N-', the first that "
                        "exists (auto), or none (k-fold)")
    p.add_argument("--group-by", default=None,
                   help="keep groups on one side: a file-name field number (split at - and _), "
                        "'folder', or 'speaker' (FSDD)")
    p.add_argument("--max-folds", type=_positive(int), default=None, help="run only the first N folds")
    _training_options(p, epochs=None, n_per_class=60, out=os.path.join("out", "cv"))

    p = _command(commands, "export", "a checkpoint as ONNX (raw audio in), or as a web page (--web)", export)
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("out", nargs="?", default=None, metavar="OUT.onnx")
    p.add_argument("--features-input", action="store_true",
                   help="export the network alone: log-mel features in, not raw audio")
    p.add_argument("--web", default=None, metavar="DIR",
                   help="write a static page classifying dropped sound files (fetches onnxruntime-web once)")

    p = _command(commands, "demo", "the main demo: a CNN on synthetic sounds, with every picture", demo)
    _training_options(p, epochs=20, n_per_class=150, out=os.path.join("out", "demo"), batch_size=64)

    p = commands.add_parser("data", help="make a data set: `data instruments` renders eight instruments")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    q = kinds.add_parser("instruments", help="melodies of eight General-MIDI instruments, rendered by FluidSynth",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    q.add_argument("--out", required=True, help="folder to write class folders into")
    q.add_argument("--soundfont", default="timgm6mb",
                   help="the instrument bank: 'timgm6mb', 'musescore', or a .sf2/.sf3 file")
    q.add_argument("--per-class", type=_positive(int), default=40, help="melodies per instrument")
    q.add_argument("--seed", type=int, default=0, help="the same seed plays the same melodies in any bank")
    q.add_argument("--quiet", action="store_true", help="no progress output")
    q.set_defaults(run=make_data)

    p = _command(commands, "tour", "the engine in five steps, with drawings", tour)
    p.add_argument("--steps", type=int, default=500, help="gradient-descent steps")
    p.add_argument("--lr", type=float, default=0.5, help="learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed of the points and weights")
    p.add_argument("--out", default=os.path.join("out", "tour"), help="folder for the pictures")

    p = _command(commands, "playground", "TF Playground on our engine, with each point's backward pass", playground)
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the URL but open no browser")
    p.add_argument("--settings", default="", metavar="QUERY",
                   help="start from these settings, as in the page's URL, e.g. 'data=spiral&layers=8,8'")
    return parser


def _show_warning(message, *args, **kwargs):
    from tqdm.auto import tqdm
    tqdm.write(f"warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    from .audio import AudioFileError, DatasetError
    from .audio.instruments import InstrumentDataError
    from .io import CheckpointError
    from .interop.onnx import ExportError
    from .interop.web import WebExportError
    parser = build_parser()
    args = parser.parse_args(argv)
    from .kernels import memory
    memory.configure()     # the command owns its process: keep freed memory for reuse (kernels.memory)
    if getattr(args, "fold", 0) and not 0 <= args.fold < args.folds:
        parser.error(f"--fold must be in 0..{args.folds - 1}")
    # one line per warning (not Python's file:line format), above any progress bar, not on it
    warnings.showwarning = _show_warning
    try:
        return args.run(args)
    except (UsageError, AudioFileError, DatasetError, CheckpointError, FileNotFoundError, ExportError,
            WebExportError, InstrumentDataError) as exc:
        print(f"autograd-lab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"autograd-lab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
