"""`fit`: a small training loop with progress bars, history, validation, early
stopping and a best checkpoint that survives Ctrl-C."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .core.node import Tensor
from .core.state import no_grad
from . import io


def accuracy(output: np.ndarray, target: np.ndarray) -> float:
    """Share of rows whose largest score is the target class (or, for soft targets such as
    mixup's, the target's most likely class)."""
    target = np.asarray(target)
    if target.ndim == np.ndim(output) and target.ndim > 1:
        target = np.argmax(target, axis=-1)
    return float(np.mean(np.argmax(output, axis=-1) == target))


def binary_accuracy(output: np.ndarray, target: np.ndarray, threshold: float = 0.0) -> float:
    """Share of outputs on the target's side of the threshold (0 for logits, 0.5 for probabilities)."""
    return float(np.mean((output.reshape(target.shape) > threshold) == (target > 0.5)))


@dataclass
class History:
    """One dict per epoch (loss, metrics, val_loss, val_metrics, lr, seconds)."""
    epochs: list = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float = math.inf
    stopped_early: bool = False
    interrupted: bool = False

    def series(self, key):
        return [e.get(key) for e in self.epochs]


def _evaluate(model, loss_fn, loader, metrics):
    model.eval()
    losses, outputs, targets = [], [], []
    with no_grad():
        for xb, yb in loader:
            out = model(Tensor(np.asarray(xb)))
            losses.append(float(loss_fn(out, yb).data) * len(yb))
            outputs.append(out.data)
            targets.append(np.asarray(yb))
    n = sum(len(t) for t in targets)
    out, tgt = np.concatenate(outputs), np.concatenate(targets)
    return losses and sum(losses) / n, {name: fn(out, tgt) for name, fn in metrics.items()}


def fit(model, loss_fn, optimizer, train_loader, val_loader=None, epochs=10, metrics=None,
        checkpoint=None, patience=None, min_delta=0.0, scheduler=None, progress=True,
        log=print, checkpoint_metadata=None) -> History:
    """Train `model` for `epochs`; returns the History.

    metrics     {name: fn(outputs, targets) -> float} on numpy arrays (default: accuracy)
    checkpoint  path: the model's state_dict is saved there (atomically) whenever the
                monitored loss (validation loss if there is validation data, else
                training loss) improves, with `checkpoint_metadata` (a JSON-able dict)
                stored beside the epoch
    patience    stop after this many epochs without an improvement larger than min_delta
    Ctrl-C stops training where it lands (a kernel that is running finishes its job
    first) and fit returns with history.interrupted; the last batch's update may be
    partly applied, and the best checkpoint stays intact.
    """
    from tqdm.auto import tqdm

    metrics = {"accuracy": accuracy} if metrics is None else dict(metrics)
    history = History()
    waited = 0
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            model.train()
            total, count, outputs, targets = 0.0, 0, [], []
            bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False,
                       disable=not progress, unit="batch")
            for xb, yb in bar:
                out = model(Tensor(np.asarray(xb)))
                loss = loss_fn(out, yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                value = float(loss.data)
                if not math.isfinite(value):
                    raise FloatingPointError(f"fit: the loss became {value} in epoch {epoch}; "
                                             "lower the learning rate or check the data")
                total += value * len(yb)
                count += len(yb)
                outputs.append(out.data)
                targets.append(np.asarray(yb))
                bar.set_postfix(loss=f"{total / count:.4f}")
            record = {"epoch": epoch, "loss": total / max(count, 1), "lr": optimizer.lr}
            out, tgt = np.concatenate(outputs), np.concatenate(targets)
            record.update({name: fn(out, tgt) for name, fn in metrics.items()})
            if val_loader is not None:
                val_loss, val_metrics = _evaluate(model, loss_fn, val_loader, metrics)
                record["val_loss"] = val_loss
                record.update({f"val_{k}": v for k, v in val_metrics.items()})
            record["seconds"] = time.perf_counter() - start
            history.epochs.append(record)
            monitored = record.get("val_loss", record["loss"])
            if monitored < history.best_value - min_delta:
                history.best_value, history.best_epoch, waited = monitored, epoch, 0
                if checkpoint is not None:
                    io.save(model.state_dict(), checkpoint,
                            metadata={**(checkpoint_metadata or {}), "epoch": epoch, "monitored": monitored})
            else:
                waited += 1
            if log is not None and progress:
                log("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in record.items()))
            if scheduler is not None:
                scheduler.step()
            if patience is not None and waited >= patience:
                history.stopped_early = True
                break
    except KeyboardInterrupt:
        history.interrupted = True
        if log is not None:
            log(f"interrupted; the best checkpoint (epoch {history.best_epoch}) is kept"
                + (f" at {checkpoint}" if checkpoint else ""))
    return history
