"""From a dataset of clips to a trained, inspected classifier, and back from a checkpoint.

`train_classifier` is what `autograd-lab train` and `demo` run: features (cached),
a validation split taken from the training data (it picks the best epoch; the test
set is only used for the final figures), training with augmentation, then
metrics.json and the pictures. `AudioClassifier.load` rebuilds a model, its
feature settings, class names and input scaling from one checkpoint file.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings

import numpy as np

from .. import io, nn, optim
from ..core.node import Tensor
from ..core.random import manual_seed
from ..core.state import no_grad
from ..data import DataLoader
from ..train import fit
from .models import AudioCNN, AudioMLP
from .prepare import Augment, Clips, FeatureConfig, extract_clips, normalize_input

CHECKPOINT_KIND = "autograd_lab-audio-classifier-1"
MODELS = {"cnn": AudioCNN, "mlp": AudioMLP}
#: A window whose loudest bin is this far below the clip's loudest is silence (not voted).
SILENCE_DB = 60.0


def cnn_channels_for(n_mels, n_frames):
    """Conv blocks for an input of n_mels x n_frames: one 2x2 pooling per block until the
    smaller side is down to about 5, at least three blocks, channels 16, 32, 64, 64, ...
    (a 40 x 84 input gets three blocks, a 64 x 216 one four)."""
    blocks = 3
    while min(n_mels, n_frames) // 2 ** (blocks + 1) >= 4 and blocks < 6:
        blocks += 1
    return tuple(min(16 * 2 ** k, 64) for k in range(blocks))


def build_model(kind, n_classes, n_mels, n_frames=None, **kwargs):
    """A fresh AudioCNN ("cnn") or AudioMLP ("mlp") and the spec that rebuilds it. The CNN's
    depth follows the input size when `n_frames` is given and `channels` is not."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; choose one of {sorted(MODELS)}")
    kwargs = {"n_classes": int(n_classes), **kwargs}
    if kind == "mlp":
        kwargs["n_mels"] = int(n_mels)
    else:
        if n_frames is not None and "channels" not in kwargs:
            kwargs["channels"] = list(cnn_channels_for(n_mels, n_frames))
        if kwargs.get("pool") == "time":
            kwargs["n_mels"] = int(n_mels)
    return MODELS[kind](**kwargs), {"kind": kind, "kwargs": kwargs}


class AudioClassifier:
    """A model with everything needed to use it on sound files.

    normalization  {"mode": one of prepare.NORMALIZATIONS, "mean": ..., "std": ...}: how
                   log-mel windows are scaled before the model (mean/std for "global")
    """

    def __init__(self, model, spec, config: FeatureConfig, classes, normalization=None):
        self.model, self.spec, self.config = model, spec, config
        self.classes = list(classes)
        self.normalization = {"mode": "global", "mean": 0.0, "std": 1.0, **(normalization or {})}

    def metadata(self) -> dict:
        return {"kind": CHECKPOINT_KIND, "model": self.spec, "features": self.config.to_dict(),
                "classes": self.classes, "normalization": self.normalization}

    @classmethod
    def load(cls, path) -> "AudioClassifier":
        """Rebuild a classifier from a checkpoint written by `train_classifier`."""
        if os.path.isdir(path):
            raise io.CheckpointError(f"{path}: is a folder; give the checkpoint file in it "
                                     f"(e.g. {os.path.join(path, 'model.safetensors')})")
        state, meta = io.load(path, with_metadata=True)
        if meta.get("kind") != CHECKPOINT_KIND:
            raise io.CheckpointError(f"{path}: a checkpoint, but not of an audio classifier "
                                     "(written by `autograd-lab train`?)")
        spec = meta["model"]
        if spec["kind"] == "descriptors":          # a DescriptorClassifier, used the same way
            from .descriptor_classifier import DescriptorClassifier
            return DescriptorClassifier.from_checkpoint(state, meta)
        model = MODELS[spec["kind"]](**spec["kwargs"])
        model.load_state_dict(state)
        model.eval()
        return cls(model, spec, FeatureConfig.from_dict(meta["features"]), meta["classes"],
                   meta.get("normalization"))

    def extract(self, dataset, cache_dir=None, use_cache=True, strict=False, progress=True) -> Clips:
        """The inputs of every readable clip of `dataset` for this classifier (cached)."""
        return extract_clips(dataset, self.config, cache_dir, use_cache, strict, progress)

    def scale(self, X):
        n = self.normalization
        return normalize_input(X, n["mode"], n.get("mean", 0.0), n.get("std", 1.0))

    def logits(self, X, batch_size=256) -> np.ndarray:
        """Class scores for log-mel windows (N, 1, n_mels, frames), unscaled."""
        self.model.eval()
        outputs = []
        with no_grad():
            for start in range(0, len(X), batch_size):
                outputs.append(self.model(Tensor(self.scale(X[start:start + batch_size]))).data)
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.classes)), np.float32)

    def probabilities(self, X) -> np.ndarray:
        """Class probabilities of each log-mel window (N, 1, n_mels, frames)."""
        z = self.logits(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def clip_probabilities(self, clips: Clips, batch_size=256) -> np.ndarray:
        """Class probabilities of whole clips: the mean over the windows of the training
        length that cover the clip (half-window hops), so a long recording is judged on
        all of it and a short one on its one padded window. Windows of silence (loudest
        bin more than SILENCE_DB below the clip's loudest) are left out, as in the ESC
        baselines: they carry no evidence, and a long quiet stretch must not outvote the
        seconds that hold the sound."""
        counts, out, pending = [], [], []

        def flush():
            if pending:
                out.append(self.probabilities(np.concatenate(pending)))
                pending.clear()
        for i in range(len(clips)):
            windows = clips.windows(i)
            peaks = windows.max(axis=(1, 2, 3))
            windows = windows[peaks >= peaks.max() - SILENCE_DB]
            counts.append(len(windows))
            pending.append(windows)
            if sum(len(p) for p in pending) >= batch_size:
                flush()
        flush()
        p = np.concatenate(out) if out else np.zeros((0, len(self.classes)))
        owners = np.repeat(np.arange(len(clips)), counts)
        total = np.zeros((len(clips), len(self.classes)))
        np.add.at(total, owners, p)
        return total / np.maximum(np.asarray(counts), 1)[:, None]

    def predict_file(self, path):
        """(label, {class: probability}) for one sound file of any length, most likely
        first: the probabilities are averaged over windows covering the whole recording."""
        from .io import load
        samples, sr = load(path)
        frames = self.config.clip_features(samples, sr)
        clips = Clips(frames, [0, frames.shape[1]], [0], [0], self.config.n_frames)
        p = self.clip_probabilities(clips)[0]
        order = np.argsort(-p)
        return self.classes[order[0]], {self.classes[k]: float(p[k]) for k in order}

    def evaluate(self, X, y) -> dict:
        """accuracy, per-class recall and the confusion matrix (rows: true class) of windows."""
        predicted = np.argmax(self.logits(X), axis=1)
        return scores(y, predicted, self.classes)

    def evaluate_clips(self, clips: Clips, y=None) -> dict:
        """As `evaluate`, for whole clips (probabilities averaged over their windows)."""
        predicted = np.argmax(self.clip_probabilities(clips), axis=1)
        return scores(clips.y if y is None else y, predicted, self.classes)


def check_classes(dataset, what="the data"):
    """Refuse data a classifier cannot learn from: one class only, or a class without clips;
    warn about a class with a single clip (nothing of it can be held out)."""
    from .datasets import DatasetError
    counts = np.bincount(np.asarray(dataset.labels), minlength=len(dataset.classes))
    if len(dataset.classes) < 2:
        raise DatasetError(f"{dataset.describe()}: only one class ({dataset.classes[0] if dataset.classes else '-'}"
                           "); a classifier needs at least two class folders")
    empty = [c for c, n in zip(dataset.classes, counts) if n == 0]
    if empty:
        raise DatasetError(f"{what} has no clips of class {', '.join(map(repr, empty))} "
                           f"({dataset.describe()}); every class needs clips to learn from")
    files = getattr(dataset, "files", None) or []
    for c, n in zip(dataset.classes, counts):
        if n == 1 and files and files[0] is not None:
            only = files[int(np.flatnonzero(np.asarray(dataset.labels) == dataset.classes.index(c))[0])]
            warnings.warn(f"class {c!r} has a single clip in {what} ({only}): it can be learnt from but "
                          "not validated or tested; add clips", stacklevel=3)


def scores(y, predicted, classes) -> dict:
    n = len(classes)
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (np.asarray(y), np.asarray(predicted)), 1)
    support = confusion.sum(axis=1)
    recall = {c: (float(confusion[k, k] / support[k]) if support[k] else None) for k, c in enumerate(classes)}
    return {"accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)), "n": int(confusion.sum()),
            "recall": recall, "confusion": confusion.tolist()}


def stratified_holdout(labels, fraction, seed, groups=None):
    """Indices (keep, held out): `fraction` of each class held out, chosen with `seed`.

    With `groups` (one name per clip, e.g. the source recording), whole groups are held
    out, so no group sits on both sides."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    if groups is not None:
        groups = np.asarray(groups)
        names = rng.permutation(np.unique(groups))
        target = int(round(fraction * len(labels)))
        held, count = [], 0
        for name in names:
            if count >= target:
                break
            members = np.flatnonzero(groups == name)
            held.extend(members)
            count += len(members)
        held = np.sort(np.asarray(held, np.int64))
        return np.setdiff1d(np.arange(len(labels)), held), held
    held = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        # at least one clip of each class with three or more, so small data still validates
        n_held = max(int(round(fraction * len(members))), 1 if len(members) >= 3 and fraction > 0 else 0)
        held.extend(members[:n_held])
    held = np.sort(np.asarray(held, np.int64))
    return np.setdiff1d(np.arange(len(labels)), held), held


@dataclasses.dataclass
class Recipe:
    """How training fights over-fitting; each part can be switched off on its own.

    normalization    prepare.NORMALIZATIONS: "clip" (per window), "band" (per window and mel
                     band: erases a steady sound that fills the window) or "global"
    random_crop      a random window of each long clip per epoch (else its middle)
    augment          Augment's time shift and SpecAugment masks (`time_masks`, `freq_masks`)
    gain_db          random gain of +-gain_db before normalisation (0: off)
    eq_db            random smooth colouring of the mel bands within +-eq_db (0: off)
    filter_db        random low- or high-pass roll-off, down by at most filter_db (0: off)
    noise_db         random steady noise floor of a random colour, (low, high) dB below the
                     window's loudest bin (None: off)
    reverb           random reverberation with a decay time (RT60) up to `reverb` seconds (0: off)
    stretch          time stretch range, e.g. (0.8, 1.25) (None: off)
    warp             mel-axis warp 1 +- warp (0: off; log-mel inputs only)
    pitch_shift      random shift of a CQT input by up to +-pitch_shift semitones, a transposition
                     (0: off; CQT inputs only, where it replaces the warp)
    mixup            alpha of the Beta(alpha, alpha) mixing weight (0: off)
    label_smoothing  share of the target spread over all classes
    warmup           epochs of linear learning-rate warm-up before the cosine decay
    weight_decay     AdamW's decoupled weight decay
    patience         stop after this many epochs without a better validation loss (None: never)
    """
    normalization: str = "clip"
    random_crop: bool = True
    augment: bool = True
    time_masks: int = 2
    freq_masks: int = 2
    gain_db: float = 6.0
    eq_db: float = 10.0
    filter_db: float = 0.0
    noise_db: tuple | None = None
    reverb: float = 0.0
    stretch: tuple | None = (0.8, 1.25)
    warp: float = 0.1
    pitch_shift: int = 0
    mixup: float = 0.0
    label_smoothing: float = 0.1
    warmup: int = 2
    weight_decay: float = 1e-3
    patience: int | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def augmenter(self, seed, n_mels, n_frames, frame_seconds=None, bins_per_semitone=None, band_hz=None) -> Augment | None:
        """The Augment of this recipe; `bins_per_semitone` given means a CQT input: a pitch
        shift by whole semitones instead of the mel-axis warp (a warp of a log-frequency
        axis would change the intervals between a note's harmonics); `band_hz`, the mel bands'
        centre frequencies, makes the warp a vocal-tract-length perturbation."""
        if not self.augment:
            return None
        cqt = bins_per_semitone is not None
        return Augment(max_shift=0.1, snr_db=None, time_masks=self.time_masks,
                       time_mask=max(n_frames // 10, 1), freq_masks=self.freq_masks,
                       freq_mask=max(n_mels // 10, 1), seed=seed, gain_db=self.gain_db or None,
                       stretch=self.stretch, warp=(self.warp or None) if not cqt else None,
                       eq_db=self.eq_db or None, filter_db=self.filter_db or None, reverb=self.reverb or None,
                       noise_db=tuple(self.noise_db) if self.noise_db else None,
                       frame_seconds=frame_seconds, band_hz=band_hz,
                       pitch_shift=(self.pitch_shift, bins_per_semitone) if cqt and self.pitch_shift else None)


#: What recordings of speech (the spoken-digit layout) train with by default, on top of Recipe():
#: what speech recognisers do to hear the words, not the voice. Each band scaled by its own mean
#: and spread (CMVN: a voice's or microphone's colouring is a constant per band, removed exactly,
#: so the random colouring has nothing left to do), speed changes of at most 10 %, and a CNN
#: that averages over time only. Other sounds keep Recipe()'s per-window scaling: CMVN erases a
#: steady sound that fills the window (a held tone, a drone), and with it what tells one from another.
SPEECH_RECIPE = {"normalization": "cmvn", "eq_db": 0.0, "stretch": (0.9, 1.1), "noise_db": (20.0, 60.0)}
SPEECH_MODEL = {"pool": "time"}
#: ... and the CNN's features pad a short clip with its own per-band noise floor, not digital
#: silence: the noisiest speakers' clips, cut tight, otherwise show edges no other voice has
#: (leave-one-speaker-out: jackson 0.526 -> 0.782, nicolas 0.618 -> 0.732, the official split
#: 0.952 -> 0.972; docs/audio.md).
SPEECH_FEATURES = {"pad": "floor"}


#: The default training: DEFAULT_EPOCHS passes over the clips in batches of DEFAULT_BATCH, but
#: at least MIN_STEPS optimisation steps: on less data the batches shrink (halving, down to
#: MIN_BATCH) until 30 epochs make the steps, then the epochs grow (up to MAX_EPOCHS). A
#: 216-clip folder in batches of 64 got 120 steps in 30 epochs and learnt almost nothing;
#: a data set of 2,134 clips or more keeps 30 epochs of 64, as before.
DEFAULT_EPOCHS, DEFAULT_BATCH, MIN_BATCH, MIN_STEPS, MAX_EPOCHS = 30, 64, 16, 800, 100


def training_schedule(n_clips, epochs=None, batch_size=None) -> tuple[int, int, str]:
    """(batch size, epochs, why) for training on `n_clips` clips; given values are kept (with
    epochs given, the batch is DEFAULT_BATCH unless given too).

    >>> training_schedule(2250)[:2], training_schedule(1000)[:2], training_schedule(216)[:2]
    ((64, 30), (32, 30), (16, 58))
    """
    n_clips = max(int(n_clips), 1)
    if batch_size is None:
        batch_size = DEFAULT_BATCH
        while epochs is None and batch_size > MIN_BATCH and \
                math.ceil(n_clips / batch_size) * DEFAULT_EPOCHS < MIN_STEPS:
            batch_size //= 2
    steps = math.ceil(n_clips / batch_size)
    if epochs is None:
        epochs = int(min(max(DEFAULT_EPOCHS, math.ceil(MIN_STEPS / steps)), MAX_EPOCHS))
    why = f"{epochs} epochs of {steps} batches of {batch_size}"
    if (batch_size, epochs) != (DEFAULT_BATCH, DEFAULT_EPOCHS):
        why += f" (small data: at least {MIN_STEPS} steps, at most {MAX_EPOCHS} epochs)"
    return int(batch_size), int(epochs), why


class WarmupCosine:
    """Per-epoch learning rate: a linear warm-up over `warmup` epochs, then a cosine decay to
    zero at `epochs` (call step() after each epoch)."""

    def __init__(self, optimizer, warmup, epochs):
        self.optimizer, self.warmup, self.epochs = optimizer, int(warmup), int(epochs)
        self.base_lr, self.epoch = optimizer.lr, 0
        self._set()

    def _set(self):
        e = self.epoch
        if e < self.warmup:
            lr = self.base_lr * (e + 1) / (self.warmup + 1)
        else:
            span = max(self.epochs - self.warmup, 1)
            lr = self.base_lr * (1 + math.cos(math.pi * min(e - self.warmup, span) / span)) / 2
        self.optimizer.lr = lr

    def step(self):
        self.epoch += 1
        self._set()


class _TrainingBatches:
    """Batches of training windows: a random crop of each clip (or its middle), Augment,
    normalisation, then mixup (soft targets) if asked for."""

    def __init__(self, clips, indices, batch_size, recipe, classifier, seed):
        self.clips, self.indices, self.batch_size = clips, np.asarray(indices), batch_size
        self.recipe, self.classifier = recipe, classifier
        self.rng = np.random.default_rng([seed, 1])
        n_mels = clips.frames.shape[0]
        config = classifier.config
        cqt = config.front_end == "cqt"
        self.augment = recipe.augmenter(seed, n_mels, clips.n_frames, config.hop_length / config.sr,
                                        bins_per_semitone=config.bins_per_octave // 12 if cqt else None,
                                        band_hz=config.band_frequencies() if not cqt and n_mels == config.n_mels
                                        else None)
        self.n_classes = len(classifier.classes)

    def __len__(self):
        return math.ceil(len(self.indices) / self.batch_size)

    def __iter__(self):
        order = self.rng.permutation(self.indices)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            x = (self.clips.random_windows(idx, self.rng) if self.recipe.random_crop
                 else self.clips.centre(idx))
            if self.augment is not None:
                x = self.augment.spectrogram(x)
            x = self.classifier.scale(x)
            y = self.clips.y[idx]
            if self.recipe.mixup and len(idx) > 1:
                lam = np.float32(self.rng.beta(self.recipe.mixup, self.recipe.mixup))
                partner = self.rng.permutation(len(idx))
                onehot = np.eye(self.n_classes, dtype=np.float32)[y]
                x = lam * x + (1 - lam) * x[partner]
                y = lam * onehot + (1 - lam) * onehot[partner]
            yield x, y


def train_classifier(train_set, test_set=None, *, model="cnn", config=None, epochs=None, batch_size=None,
                     lr=3e-3, seed=0, out="out/train", val_fraction=0.1, recipe=None,
                     progress=True, cache_dir=None, use_cache=True, strict=False,
                     log=print, model_kwargs=None, groups=None, write_files=True) -> dict:
    """Train a classifier on `train_set`, evaluate it on `test_set`, write results to `out`.

    `epochs` and `batch_size` left at None follow the number of training clips
    (`training_schedule`: 30 epochs of 64 on large data, more and smaller on small data).
    Returns the metrics written to out/metrics.json. out/model.safetensors is the checkpoint of
    the epoch with the lowest validation loss (validation: `val_fraction` of each class
    of the training data, or of its `groups` when given). `recipe` (a Recipe) says how
    the training generalises; test clips are judged on all their windows.
    """
    start = time.perf_counter()
    config = config or FeatureConfig()
    recipe = recipe or Recipe()
    os.makedirs(out, exist_ok=True)
    manual_seed(seed)
    check_classes(train_set, "the training set")
    clips = extract_clips(train_set, config, cache_dir, use_cache, strict, progress)
    train_groups = None if groups is None else np.asarray(groups)[clips.kept]
    if val_fraction:
        fit_idx, val_idx = stratified_holdout(clips.y, val_fraction, seed, train_groups)
    else:
        fit_idx, val_idx = np.arange(len(clips)), np.zeros(0, np.int64)
    if val_fraction and not len(val_idx):
        warnings.warn(f"no clips left for validation (fewer than 3 per class in {train_set.describe()}): "
                      "the checkpoint is the epoch with the lowest training loss, which says little "
                      "about new recordings; add clips", stacklevel=2)
    batch_size, epochs, schedule = training_schedule(len(fit_idx), epochs, batch_size)
    X_fit = clips.centre(fit_idx)
    normalization = {"mode": recipe.normalization}
    if recipe.normalization == "global":
        normalization.update(mean=float(X_fit.mean()), std=float(X_fit.std() + 1e-6))
    network, spec = build_model(model, len(train_set.classes), config.n_bands, config.n_frames,
                                **(model_kwargs or {}))
    classifier = AudioClassifier(network, spec, config, train_set.classes, normalization)
    train_loader = _TrainingBatches(clips, fit_idx, batch_size, recipe, classifier, seed)
    X_val = clips.centre(val_idx)
    val_loader = DataLoader(classifier.scale(X_val), clips.y[val_idx], batch_size=256) if len(val_idx) else None
    optimizer = optim.AdamW(network.parameters(), lr=lr, weight_decay=recipe.weight_decay)
    scheduler = WarmupCosine(optimizer, recipe.warmup, epochs)
    checkpoint = os.path.join(out, "model.safetensors")
    smoothing = recipe.label_smoothing

    def loss_fn(output, target):
        return nn.functional.cross_entropy(output, target, label_smoothing=smoothing)
    log(f"training a {model} on {len(fit_idx)} clips ({len(val_idx)} for validation), "
        f"input {X_fit.shape[1:]}, {sum(p.size for p in network.parameters())} parameters; {schedule}")
    history = fit(network, loss_fn, optimizer, train_loader, val_loader,
                  epochs=epochs, checkpoint=checkpoint, scheduler=scheduler, progress=progress,
                  log=log, checkpoint_metadata=classifier.metadata(), patience=recipe.patience)
    if history.best_epoch is None:
        raise RuntimeError("train: stopped before the first epoch ended; no checkpoint was written")
    best = AudioClassifier.load(checkpoint)
    metrics = {"model": model, "epochs_run": len(history.epochs), "best_epoch": history.best_epoch,
               "epochs": epochs, "batch_size": batch_size,
               "train_clips": int(len(fit_idx)), "val_clips": int(len(val_idx)),
               "features": config.to_dict(), "recipe": recipe.to_dict(), "classes": train_set.classes,
               "history": history.epochs, "interrupted": history.interrupted,
               "stopped_early": history.stopped_early,
               "train": best.evaluate_clips(clips.subset(fit_idx))}
    if len(val_idx):
        metrics["validation"] = best.evaluate_clips(clips.subset(val_idx))
    test = None
    if test_set is not None:
        test_clips = extract_clips(test_set, config, cache_dir, use_cache, strict, progress)
        test = best.evaluate_clips(test_clips)
        metrics["test"] = test
        metrics["test_kept"] = test_clips.kept.tolist()
    metrics["seconds"] = time.perf_counter() - start
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    metrics["pictures"] = []
    if write_files:
        metrics["pictures"] = write_pictures(out, best, history, (test or metrics["train"])["confusion"],
                                             X_fit, clips.y[fit_idx], title="test" if test else "training")
    return metrics


def write_pictures(out, classifier, history, confusion, X, y, title="test"):
    """Learning curves, confusion matrix, a spectrogram per class, first-layer weights and
    the model's layer-view graph, as PNG (and SVG for the graph) in `out`."""
    import autograd_lab as al
    from ..viz import plots
    plt = plots._plt()
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    plots.loss_curves(history, ax=axes[0])
    plots.loss_curves(history, keys=("accuracy", "val_accuracy"), ax=axes[1])
    axes[1].set_ylabel("accuracy")
    axes[1].set_title("accuracy")
    paths.append(plots.save(fig, os.path.join(out, "learning_curves.png")))

    fig = plots.confusion_matrix(np.asarray(confusion), classifier.classes,
                                 title=f"confusion matrix ({title} set)")
    paths.append(plots.save(fig, os.path.join(out, "confusion_matrix.png")))

    present = [k for k in range(len(classifier.classes)) if np.any(y == k)]
    cols = min(5, len(present))
    rows = int(np.ceil(len(present) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows + 0.3), layout="constrained",
                             squeeze=False)
    cfg = classifier.config
    seconds = cfg.n_frames * cfg.hop_length / cfg.sr
    for ax in axes.ravel():
        ax.axis("off")
    for ax, k in zip(axes.ravel(), present):
        ax.axis("on")
        ax.imshow(X[np.flatnonzero(y == k)[0], 0], origin="lower", aspect="auto", cmap="magma",
                  extent=[0, seconds, 0, cfg.n_bands])
        ax.set_title(classifier.classes[k], fontsize=9)
        ax.set_xlabel("time (s)", fontsize=7)
        ax.set_ylabel("mel band" if cfg.front_end == "mel" else "CQT bin", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{'log-mel' if cfg.front_end == 'mel' else 'constant-Q'} spectrograms, one example per class (dB)")
    paths.append(plots.save(fig, os.path.join(out, "spectrograms.png")))

    first = next(m for m in classifier.model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    if isinstance(first, nn.Conv2d):
        fig = plots.filters(first.weight.data, title="first-layer filters (3x3, frequency up)")
    else:
        # AudioMLP: each hidden unit's weights over the coarse (mel band x time stretch) input
        model = classifier.model
        w = first.weight.data.reshape(-1, 1, model.n_mels, model.segments)
        strongest = np.argsort(-np.abs(w).reshape(len(w), -1).sum(axis=1))[:16]
        fig = plots.filters(w[strongest], title="first-layer weights of the 16 strongest hidden units "
                                                "(mel band up, time right)")
    paths.append(plots.save(fig, os.path.join(out, "filters.png")))

    classifier.model.eval()
    scores_node = classifier.model(Tensor(classifier.scale(X[:1])))
    drawing = al.draw(scores_node, detail="layer")
    paths.append(drawing.save(os.path.join(out, "model_graph.svg")))
    paths.append(drawing.save(os.path.join(out, "model_graph.png")))
    return paths
