"""The playground's state: settings, data, the network on our engine, training, and
everything the page draws (decision boundary, neuron pictures, weights, gradients,
loss curves, one point's forward and backward pass, a loss landscape).

The page only draws; every number it shows comes from here. One `Session` serves one
user; the server holds a lock around it.
"""
from __future__ import annotations

import csv
import io
import math
import time

import numpy as np

from .. import nn, optim
from ..core.node import Tensor, Value
from ..core.random import manual_seed
from ..core.state import no_grad
from ..nn import functional as F
from .datasets import DATASETS, DOMAIN, make_dataset

FEATURES = {        # name in the URL -> (label on the page, function of the (n, 2) points)
    "x1": ("x₁", lambda P: P[:, 0]),
    "x2": ("x₂", lambda P: P[:, 1]),
    "x1sq": ("x₁²", lambda P: P[:, 0] ** 2),
    "x2sq": ("x₂²", lambda P: P[:, 1] ** 2),
    "x1x2": ("x₁x₂", lambda P: P[:, 0] * P[:, 1]),
    # The points lie in about [-1, 1], where sin(x) is nearly x; sin(πx) makes one wave.
    "sin1": ("sin(πx₁)", lambda P: np.sin(np.pi * P[:, 0])),
    "sin2": ("sin(πx₂)", lambda P: np.sin(np.pi * P[:, 1])),
}
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "linear": None}
OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "step", "cosine")
REGULARIZATIONS = ("none", "l1", "l2")
MAX_LAYERS, MAX_NEURONS, MAX_CLASSES = 6, 8, 6
CSV_MAX_BYTES = 1_000_000
CSV_MAX_POINTS = 5000
GRID, NEURON_GRID = 50, 20          # cells per side of the output picture and of each neuron's
SCHEDULE_EPOCHS = 200               # step: halve every 200 epochs; cosine: to 1 % over 200
HISTORY = 2000                      # loss-curve and optimiser-path points kept

DEFAULTS = {
    "data": "circle", "classes": 2, "n": 400, "noise": 0, "ratio": 50, "batch": 10,
    "features": "x1,x2", "layers": "4,2", "act": "tanh", "lr": 0.03, "reg": "none",
    "regrate": 0.0, "opt": "sgd", "sched": "constant", "dropout": 0.0, "seed": 0,
}
# changing one of these rebuilds data and network (as TF Playground does); the others apply live
STRUCTURAL = ("data", "classes", "n", "noise", "ratio", "features", "layers", "act", "seed", "opt")


class SettingsError(ValueError):
    """A setting or an uploaded file the playground cannot use; the message says which and why."""


# ---- settings ---------------------------------------------------------------------------
def _number(key, text, kind, lo, hi):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise SettingsError(f"{key}: {str(text)[:40]!r} is not a number") from None
    if not (lo <= value <= hi) or (isinstance(value, float) and not math.isfinite(value)):
        raise SettingsError(f"{key}: {value} is outside [{lo}, {hi}]")
    return value


def _choice(key, text, choices):
    if text not in choices:
        raise SettingsError(f"{key}: {str(text)[:40]!r} is not one of {', '.join(choices)}")
    return text


def parse_settings(raw: dict, base: dict | None = None) -> dict:
    """Checked settings from `raw` (strings or numbers, as in the URL) over `base`.

    >>> parse_settings({"layers": "8,8", "lr": "0.1"})["layers"]
    [8, 8]
    >>> parse_settings({"act": "swish"})
    Traceback (most recent call last):
    ...
    autograd_lab.playground.session.SettingsError: act: 'swish' is not one of tanh, relu, sigmoid, linear
    """
    s = dict(base or parse_settings.defaults())
    unknown = sorted(set(raw) - set(DEFAULTS) - {"token"})
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0][:40]!r}; known: {', '.join(DEFAULTS)}")
    for key, value in raw.items():
        if key == "token":
            continue
        if key == "data":
            s[key] = _choice(key, value, tuple(DATASETS) + ("csv",))
        elif key == "classes":
            s[key] = _number(key, value, int, 2, MAX_CLASSES)
        elif key == "n":
            s[key] = _number(key, value, int, 20, 2000)
        elif key == "noise":
            s[key] = _number(key, value, int, 0, 50)
        elif key == "ratio":
            s[key] = _number(key, value, int, 10, 90)
        elif key == "batch":
            s[key] = _number(key, value, int, 1, 500)
        elif key == "features":
            names = [f for f in (value if isinstance(value, list) else str(value).split(",")) if f]
            for f in names:
                _choice("features", f, tuple(FEATURES))
            if not names:
                raise SettingsError("features: choose at least one input feature")
            s[key] = ",".join(f for f in FEATURES if f in names)       # canonical order
        elif key == "layers":
            text = value if isinstance(value, list) else [t for t in str(value).split(",") if t.strip()]
            sizes = [_number("layers", t, int, 1, MAX_NEURONS) for t in text]
            if len(sizes) > MAX_LAYERS:
                raise SettingsError(f"layers: at most {MAX_LAYERS} hidden layers, got {len(sizes)}")
            s[key] = sizes
        elif key == "act":
            s[key] = _choice(key, value, tuple(ACTIVATIONS))
        elif key == "lr":
            s[key] = _number(key, value, float, 1e-5, 10.0)
        elif key == "reg":
            s[key] = _choice(key, value, REGULARIZATIONS)
        elif key == "regrate":
            s[key] = _number(key, value, float, 0.0, 10.0)
        elif key == "opt":
            s[key] = _choice(key, value, OPTIMIZERS)
        elif key == "sched":
            s[key] = _choice(key, value, SCHEDULES)
        elif key == "dropout":
            s[key] = _number(key, value, float, 0.0, 0.9)
        elif key == "seed":
            s[key] = _number(key, value, int, 0, 2**31 - 1)
    return s


parse_settings.defaults = lambda: dict(DEFAULTS, layers=[4, 2])


def features_of(points, names) -> np.ndarray:
    """The network's inputs: the chosen features of (n, 2) points, as float32 (n, F)."""
    names = names.split(",") if isinstance(names, str) else names
    return np.stack([FEATURES[f][1](points) for f in names], axis=1).astype(np.float32)


# ---- uploaded data ------------------------------------------------------------------------
def parse_csv(text: str, name: str = "upload.csv"):
    """(points (n, 2) scaled into [-1, 1], labels 0..k-1, class names) from CSV text.

    Columns: x1, x2, label (any text; at most MAX_CLASSES distinct). A first line that
    is not numeric is a header. Errors name the file and the line.
    """
    if len(text.encode("utf-8", "replace")) > CSV_MAX_BYTES:
        raise SettingsError(f"{name}: larger than {CSV_MAX_BYTES // 1000} kB")
    rows = list(csv.reader(io.StringIO(text)))
    rows = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not rows:
        raise SettingsError(f"{name}: the file is empty")
    points, labels = [], []
    for k, (line, row) in enumerate(rows):
        if len(row) < 3:
            raise SettingsError(f"{name}, line {line}: expected 3 columns (x1, x2, label), got {len(row)}")
        try:
            x, y = float(row[0]), float(row[1])
        except ValueError:
            if k == 0:
                continue                                    # a header
            raise SettingsError(f"{name}, line {line}: {row[0][:20]!r}, {row[1][:20]!r} are not two numbers") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise SettingsError(f"{name}, line {line}: coordinates must be finite numbers")
        points.append((x, y))
        labels.append(row[2].strip())
    if len(points) < 4:
        raise SettingsError(f"{name}: needs at least 4 points, found {len(points)}")
    if len(points) > CSV_MAX_POINTS:
        raise SettingsError(f"{name}: at most {CSV_MAX_POINTS} points, found {len(points)}")
    classes = sorted(set(labels), key=lambda c: (not _is_int(c), int(c) if _is_int(c) else 0, c))
    if len(classes) < 2:
        raise SettingsError(f"{name}: needs at least 2 different labels, found only {classes[0][:40]!r}")
    if len(classes) > MAX_CLASSES:
        raise SettingsError(f"{name}: at most {MAX_CLASSES} classes, found {len(classes)}")
    P = np.array(points, np.float64)
    centre = (P.max(0) + P.min(0)) / 2
    half = np.maximum((P.max(0) - P.min(0)) / 2, 1e-12)
    P = (P - centre) / half                               # each axis into [-1, 1]
    index = {c: i for i, c in enumerate(classes)}
    return P.astype(np.float32), np.array([index[c] for c in labels], np.int64), classes


def _is_int(text):
    try:
        int(text)
        return True
    except ValueError:
        return False


def _rounded(array, decimals):
    """Nested lists of short numbers for JSON (rounded in float64: a float32 0.1 would
    print as 0.10000000149011612)."""
    return np.round(np.asarray(array, np.float64), decimals).tolist()


def _thinned(rows, most):
    """At most about `most` evenly spaced rows, always with the last one (for drawing)."""
    kept = rows[::max(1, len(rows) // most)]
    return kept if kept[-1] is rows[-1] else kept + rows[-1:]


def _activation_slope(act, z, a):
    """da/dz of the activation at z (the local derivative on the neuron's own edge)."""
    return {"tanh": 1 - a * a, "sigmoid": a * (1 - a), "relu": float(z > 0)}.get(act, 1.0)


# ---- the session ------------------------------------------------------------------------------
class Session:
    """Data, network, optimiser and history for one playground.

    >>> s = Session({"data": "xor", "layers": "4", "seed": "1"})
    >>> s.train(epochs=2)["epoch"]
    2
    """

    def __init__(self, settings=None):
        self.settings = parse_settings({})
        self.uploaded = None                   # (points, labels, class names, file name)
        self.configure(settings or {}, rebuild=True)

    # ---- building -----------------------------------------------------------------
    def configure(self, raw: dict, rebuild: bool = False) -> None:
        new = parse_settings(raw, self.settings)
        if new["data"] == "csv" and self.uploaded is None:
            raise SettingsError("data: csv needs an uploaded file first")
        changed = [k for k in DEFAULTS if new[k] != self.settings.get(k)]
        self.settings = new
        if rebuild or any(k in STRUCTURAL for k in changed):
            self.reset()
        else:
            self._apply_live()

    def load_csv(self, text: str, name: str) -> None:
        points, labels, classes = parse_csv(text, name)
        self.uploaded = (points, labels, classes, name)
        self.settings["data"] = "csv"
        self.reset()

    def reset(self) -> None:
        s = self.settings
        manual_seed(s["seed"])
        if s["data"] == "csv":
            points, labels, classes, _ = self.uploaded
            points = points + np.random.default_rng(s["seed"]).normal(0, s["noise"] / 100, points.shape).astype(np.float32)
            self.class_names = list(classes)
        else:
            points, labels = make_dataset(s["data"], s["n"], s["classes"], s["noise"] / 100, s["seed"])
            self.class_names = [str(k) for k in range(int(labels.max()) + 1)]
        self.n_classes = max(2, len(self.class_names))
        order = np.random.default_rng(s["seed"] + 1).permutation(len(points))
        cut = max(1, min(len(points) - 1, round(len(points) * s["ratio"] / 100)))
        self.points = {"train": points[order[:cut]], "test": points[order[cut:]]}
        self.labels = {"train": labels[order[:cut]], "test": labels[order[cut:]]}
        self.inputs = {k: features_of(v, s["features"]) for k, v in self.points.items()}
        self.model = self._build_model()
        self.linears = [m for m in self.model if isinstance(m, nn.Linear)]
        self.optimizer = self._build_optimizer()
        self.epoch = 0
        self.history = []                  # [epoch, train loss, test loss]
        self.path = []                     # flat parameter vectors, one per epoch
        self._record()

    def _build_model(self):
        s = self.settings
        sizes = [len(s["features"].split(","))] + list(s["layers"])
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers.append(nn.Linear(n_in, n_out))
            if ACTIVATIONS[s["act"]] is not None:
                layers.append(ACTIVATIONS[s["act"]]())
            if s["dropout"] > 0:
                layers.append(nn.Dropout(s["dropout"]))
        layers.append(nn.Linear(sizes[-1], 1 if self.n_classes == 2 else self.n_classes))
        return nn.Sequential(*layers)

    def _build_optimizer(self):
        s, params = self.settings, self.model.parameters()
        if s["opt"] == "adam":
            return optim.Adam(params, lr=s["lr"])
        return optim.SGD(params, lr=s["lr"], momentum=0.9 if s["opt"] == "momentum" else 0.0)

    def _apply_live(self):
        """Learning rate, schedule, regularisation, batch size, dropout: no rebuild needed."""
        for m in self.model:
            if isinstance(m, nn.Dropout):
                m.p = self.settings["dropout"]
        if self.settings["dropout"] > 0 and not any(isinstance(m, nn.Dropout) for m in self.model):
            self.reset()                   # dropout layers must be inserted: rebuild
            return
        self.optimizer.lr = self._scheduled_lr()

    def _scheduled_lr(self):
        s, t = self.settings, self.epoch
        if s["sched"] == "step":
            return s["lr"] * 0.5 ** (t // SCHEDULE_EPOCHS)
        if s["sched"] == "cosine":
            floor = 0.01 * s["lr"]
            return floor + (s["lr"] - floor) * (1 + math.cos(math.pi * min(t, SCHEDULE_EPOCHS) / SCHEDULE_EPOCHS)) / 2
        return s["lr"]

    # ---- losses -------------------------------------------------------------------
    def data_loss(self, logits, labels):
        """Mean cross-entropy: binary (one logit) or over the classes."""
        if self.n_classes == 2:
            return F.binary_cross_entropy_with_logits(logits.reshape(-1), labels.astype(np.float32))
        return F.cross_entropy(logits, labels)

    def penalty(self):
        """L1 or L2 of the weights (not the biases), times the rate; None without one."""
        s = self.settings
        if s["reg"] == "none" or s["regrate"] == 0:
            return None
        terms = [(m.weight.abs() if s["reg"] == "l1" else m.weight * m.weight).sum() for m in self.linears]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total * s["regrate"]

    def loss_on(self, subset) -> float:
        self.model.eval()
        with no_grad():
            value = self.data_loss(self.model(Tensor(self.inputs[subset])), self.labels[subset]).item()
        self.model.train()
        return float(value)

    # ---- training -----------------------------------------------------------------
    def train(self, epochs: int | None = None, seconds: float = 0.2) -> dict:
        """Whole epochs (minibatches of `batch`, shuffled); `epochs` of them, or as many as
        fit in `seconds`. Returns the snapshot."""
        deadline = time.perf_counter() + seconds
        done = 0
        X, y = self.inputs["train"], self.labels["train"]
        batch = self.settings["batch"]
        rng = np.random.default_rng(self.settings["seed"] * 100_003 + self.epoch)
        while (done < epochs) if epochs is not None else (done == 0 or time.perf_counter() < deadline):
            self.model.train()
            self.optimizer.lr = self._scheduled_lr()
            order = rng.permutation(len(X))
            for start in range(0, len(X), batch):
                idx = order[start:start + batch]
                loss = self.data_loss(self.model(Tensor(X[idx])), y[idx])
                extra = self.penalty()
                if extra is not None:
                    loss = loss + extra
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
            self.epoch += 1
            done += 1
            self._record()
            if not all(np.isfinite(p.data).all() for p in self.model.parameters()):
                break                       # diverged: stop here, the page shows it
        return self.snapshot(points=False)

    def _record(self):
        self.history.append([self.epoch, self.loss_on("train"), self.loss_on("test")])
        self.path.append(np.concatenate([m.weight.data.ravel() for m in self.linears]))
        if len(self.history) > HISTORY:             # keep every other old point
            self.history = self.history[:HISTORY // 2:2] + self.history[HISTORY // 2:]
            self.path = self.path[:HISTORY // 2:2] + self.path[HISTORY // 2:]

    # ---- what the page draws ----------------------------------------------------------
    def _grid(self, cells):
        axis = np.linspace(-DOMAIN, DOMAIN, cells, dtype=np.float32)
        gx, gy = np.meshgrid(axis, axis[::-1])             # row 0 at the top (x2 = +DOMAIN)
        return np.c_[gx.ravel(), gy.ravel()]

    def _probabilities(self, logits):
        if self.n_classes == 2:
            p1 = 1 / (1 + np.exp(-np.clip(logits[:, 0], -60, 60)))
            return np.c_[1 - p1, p1]
        z = logits - logits.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def snapshot(self, points: bool = True) -> dict:
        """What the page draws. `points=False` leaves out the data points (they do not
        change while training, and they are most of the reply)."""
        s = self.settings
        self.model.eval()
        with no_grad():
            out = self.model(Tensor(features_of(self._grid(GRID), s["features"]))).data.astype(np.float64)
            probs = self._probabilities(out)
            # every neuron's picture: the output of each hidden layer's activation (or Linear)
            small = features_of(self._grid(NEURON_GRID), s["features"])
            pictures, x = [small.T], Tensor(small)
            for m in self.model:
                x = m(x)
                if isinstance(m, nn.Linear) and m is not self.linears[-1] and ACTIVATIONS[s["act"]] is None:
                    pictures.append(x.data.T)
                elif not isinstance(m, (nn.Linear, nn.Dropout)):
                    pictures.append(x.data.T)
            pictures.append(x.data.T)                      # the output logits
        self.model.train()
        k = self.n_classes
        confidence = (probs.max(1) - 1 / k) / (1 - 1 / k)
        grads = self.weight_gradients()
        lr = self._scheduled_lr()
        return {
            "settings": dict(s, layers=",".join(map(str, s["layers"]))),
            "epoch": self.epoch, "lr_now": lr,
            "train_loss": self.history[-1][1], "test_loss": self.history[-1][2],
            "history": _thinned(self.history, 400),
            "classes": self.class_names, "file": self.uploaded[3] if s["data"] == "csv" else None,
            "features": [FEATURES[f][0] for f in s["features"].split(",")],
            "sizes": [len(s["features"].split(","))] + list(s["layers"]) + [1 if k == 2 else k],
            "domain": DOMAIN, "grid": GRID, "neuron_grid": NEURON_GRID,
            "boundary": {"cls": probs.argmax(1).tolist(), "conf": _rounded(confidence, 2)},
            "pictures": [[_rounded(row, 2) for row in layer] for layer in pictures],
            "weights": [_rounded(m.weight.data, 4) for m in self.linears],
            "biases": [_rounded(m.bias.data, 4) for m in self.linears],
            "weight_grads": grads,
            "points": {k2: {"xy": _rounded(v, 4), "label": self.labels[k2].tolist()}
                       for k2, v in self.points.items()} if points else None,
        }

    def weight_gradients(self):
        """d(training loss)/d(weight) at the current weights, for the backward view."""
        self.model.eval()
        for p in self.model.parameters():
            p.grad = None
        loss = self.data_loss(self.model(Tensor(self.inputs["train"])), self.labels["train"])
        loss.backward()
        grads = [_rounded(m.weight.grad, 6) for m in self.linears]
        self.model.zero_grad()
        self.model.train()
        return grads

    # ---- one point, forward and backward, as scalars ---------------------------------------
    def point_graph(self, subset: str, index: int):
        """The point's loss as a graph of al.Values through the current network (no dropout,
        no regularisation): (loss, inputs, layers) where layers[l] = (weights, biases, z, a)."""
        if subset not in self.points:
            raise SettingsError(f"subset must be 'train' or 'test', got {str(subset)[:20]!r}")
        n = len(self.points[subset])
        if not isinstance(index, int) or not 0 <= index < n:
            raise SettingsError(f"index: {index!r} is not a point of the {subset} set (0..{n - 1})")
        names = [FEATURES[f][0] for f in self.settings["features"].split(",")]
        x = [Value(float(v), label=name, requires_grad=False)
             for v, name in zip(self.inputs[subset][index], names)]
        layers, act = [], self.settings["act"]
        for l, m in enumerate(self.linears):
            last = m is self.linears[-1]
            W = [[Value(float(m.weight.data[j, i]), label=f"w{l + 1}[{j},{i}]") for i in range(len(x))]
                 for j in range(m.out_features)]
            b = [Value(float(m.bias.data[j]), label=f"b{l + 1}[{j}]") for j in range(m.out_features)]
            z, a = [], []
            for j in range(m.out_features):
                total = b[j]
                for i in range(len(x)):
                    total = total + W[j][i] * x[i]
                total.label = f"z{l + 1}[{j}]" if not last else f"logit[{j}]"
                z.append(total)
                if last or act == "linear":
                    a.append(total)
                    continue
                out = getattr(total, act)()
                out.label = f"a{l + 1}[{j}]"
                a.append(out)
            layers.append((W, b, z, a))
            x = a
        target = int(self.labels[subset][index])
        if self.n_classes == 2:
            logit = x[0]            # binary cross-entropy with logits: log(1 + e^z) - y z
            loss = (logit.exp() + 1.0).log() - logit * float(target)
        else:
            total = x[0].exp()
            for zk in x[1:]:
                total = total + zk.exp()
            loss = total.log() - x[target]
        loss.label = "loss"
        return loss, x, layers

    def trace(self, subset: str, index: int) -> dict:
        """Every value and gradient of one point's forward and backward pass, from the engine."""
        loss, _, layers = self.point_graph(subset, index)
        loss.backward()
        s = self.settings
        feats = self.inputs[subset][index].tolist()
        inputs = [{"value": float(v), "label": FEATURES[f][0]} for v, f in zip(feats, s["features"].split(","))]
        out_layers = []
        prev_values = feats
        for l, (W, b, z, a) in enumerate(layers):
            neurons = []
            for j in range(len(z)):
                neurons.append({"z": z[j].data, "a": a[j].data, "dz": z[j].grad, "da": a[j].grad,
                                "local": 1.0 if a[j] is z[j] else _activation_slope(s["act"], z[j].data, a[j].data),
                                "b": b[j].data, "db": b[j].grad, "name": a[j].label})
            edges = [{"i": i, "j": j, "w": W[j][i].data, "x": prev_values[i], "upstream": z[j].grad,
                      "dw": W[j][i].grad, "dx": W[j][i].data * z[j].grad, "name": W[j][i].label}
                     for j in range(len(z)) for i in range(len(W[j]))]
            out_layers.append({"neurons": neurons, "edges": edges})
            prev_values = [v.data for v in a]
        return {
            "subset": subset, "index": index, "xy": self.points[subset][index].tolist(),
            "label": self.class_names[int(self.labels[subset][index])],
            "inputs": inputs, "layers": out_layers, "loss": loss.data,
            "activation": s["act"], "n_classes": self.n_classes,
        }

    def drawing_svg(self, subset: str, index: int, max_nodes: int = 700) -> str:
        """al.draw of the point's backward pass (scalar graph) as SVG text."""
        from ..core.engine import topological_order
        from ..viz import draw
        loss, _, _ = self.point_graph(subset, index)
        count = len(topological_order(loss))
        if count > max_nodes:
            raise SettingsError(f"the point's graph has {count} nodes; the drawing is limited to {max_nodes}: "
                                "use fewer features, layers or neurons")
        loss.backward()
        svg = draw(loss, mode="backward", legend=False).pipe("svg").decode()
        return svg[svg.index("<svg"):]

    # ---- loss landscape ----------------------------------------------------------------
    def weight_names(self):
        return [f"w{l + 1}[{j},{i}]" for l, m in enumerate(self.linears)
                for j in range(m.out_features) for i in range(m.in_features)]

    def landscape(self, a: int, b: int, cells: int = 31) -> dict:
        """Training loss over a plane of two weights (the others fixed at their current
        values), and the path those two weights took during training."""
        names = self.weight_names()
        for key, k in (("a", a), ("b", b)):
            if not isinstance(k, int) or not 0 <= k < len(names):
                raise SettingsError(f"landscape: weight {key}={k!r} is not in 0..{len(names) - 1}")
        if a == b:
            raise SettingsError("landscape: choose two different weights")
        if not 5 <= cells <= 61:
            raise SettingsError(f"landscape: cells must be in [5, 61], got {cells}")
        path = np.array(self.path)[:, [a, b]]
        current = path[-1]
        half = max(1.0, 1.2 * float(np.abs(path - current).max()))
        axes = [np.linspace(c - half, c + half, cells) for c in current]
        offsets = np.cumsum([0] + [m.weight.size for m in self.linears])
        where = []
        for k in (a, b):
            layer = int(np.searchsorted(offsets, k, side="right") - 1)
            where.append((self.linears[layer].weight, np.unravel_index(k - offsets[layer], self.linears[layer].weight.shape)))
        saved = [w.data[pos] for w, pos in where]
        loss = np.zeros((cells, cells))
        self.model.eval()
        try:
            with no_grad():
                X = Tensor(self.inputs["train"])
                for r, vb in enumerate(axes[1][::-1]):            # row 0 at the top
                    where[1][0].data[where[1][1]] = vb
                    for c, va in enumerate(axes[0]):
                        where[0][0].data[where[0][1]] = va
                        loss[r, c] = self.data_loss(self.model(X), self.labels["train"]).item()
        finally:
            for (w, pos), v in zip(where, saved):
                w.data[pos] = v
            self.model.train()
        return {"names": [names[a], names[b]], "x": axes[0].tolist(), "y": axes[1].tolist(),
                "loss": np.round(loss, 5).tolist(), "path": np.round(path, 5).tolist()}
