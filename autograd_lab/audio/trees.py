"""Extremely randomised trees (Geurts, Ernst and Wehenkel, 2006) in numpy, for descriptor vectors.

Each tree splits its node's clips on the best of `max_features` random (descriptor,
threshold) pairs, the threshold drawn uniformly between the node's smallest and largest
value of that descriptor, "best" meaning the largest drop in Gini impurity, until a node is
pure or holds fewer than `min_samples_split` clips; no bootstrap. A leaf holds the class
shares of its clips; the forest's probabilities are the mean over its trees (scikit-learn's
ExtraTreesClassifier with its defaults, max_features = sqrt(n_features)). The forest is a
handful of flat arrays, so it is stored in a safetensors checkpoint like any network.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 4)); y = (X[:, 0] > 0).astype(int)
>>> forest = ExtraTrees(n_trees=20, seed=0).fit(X[:150], y[:150], n_classes=2)
>>> float((forest.predict_proba(X[150:]).argmax(1) == y[150:]).mean()) > 0.9
True
"""
from __future__ import annotations

import numpy as np

LEAF = -1


class ExtraTrees:
    """A forest of extremely randomised trees (see the module's docstring)."""

    def __init__(self, n_trees=300, max_features=None, min_samples_split=2, seed=0):
        self.n_trees, self.max_features = int(n_trees), max_features
        self.min_samples_split, self.seed = int(min_samples_split), int(seed)
        self.arrays = None

    def fit(self, X, y, n_classes=None) -> "ExtraTrees":
        X = np.asarray(X, np.float64)
        y = np.asarray(y, np.int64)
        n_classes = int(n_classes or y.max() + 1)
        k = self.max_features or max(int(np.sqrt(X.shape[1])), 1)
        rng = np.random.default_rng(self.seed)
        onehot = np.eye(n_classes)[y]
        feature, threshold, left, right, value, roots = [], [], [], [], [], []
        for _ in range(self.n_trees):
            roots.append(len(feature))
            stack = [(np.arange(len(y)), self._new_node(feature, threshold, left, right, value, n_classes))]
            while stack:
                idx, node = stack.pop()
                counts = onehot[idx].sum(0)
                value[node] = counts / counts.sum()
                if len(idx) < self.min_samples_split or (counts > 0).sum() <= 1:
                    continue
                split = self._best_split(X[idx], onehot[idx], k, rng)
                if split is None:
                    continue
                j, t = split
                goes_left = X[idx, j] <= t
                if goes_left.all() or not goes_left.any():   # a threshold drawn at the edge: an empty side
                    continue
                feature[node], threshold[node] = j, t
                left[node] = self._new_node(feature, threshold, left, right, value, n_classes)
                right[node] = self._new_node(feature, threshold, left, right, value, n_classes)
                stack.append((idx[goes_left], left[node]))
                stack.append((idx[~goes_left], right[node]))
        self.arrays = {"feature": np.asarray(feature, np.int32), "threshold": np.asarray(threshold, np.float64),
                       "left": np.asarray(left, np.int32), "right": np.asarray(right, np.int32),
                       "value": np.asarray(value, np.float32), "roots": np.asarray(roots, np.int32)}
        return self

    @staticmethod
    def _new_node(feature, threshold, left, right, value, n_classes):
        feature.append(LEAF)
        threshold.append(0.0)
        left.append(LEAF)
        right.append(LEAF)
        value.append(np.zeros(n_classes))
        return len(feature) - 1

    @staticmethod
    def _best_split(X, onehot, k, rng):
        """(descriptor, threshold) of the best of k random splits, or None if every
        descriptor is constant in this node."""
        low, high = X.min(0), X.max(0)
        varying = np.flatnonzero(high > low)
        if not len(varying):
            return None
        features = rng.choice(varying, size=min(k, len(varying)), replace=False)
        thresholds = rng.uniform(low[features], high[features])
        goes_left = X[:, features] <= thresholds                       # (n, k)
        n = len(X)
        left_counts = goes_left.T.astype(np.float64) @ onehot          # (k, classes)
        right_counts = onehot.sum(0)[None] - left_counts
        n_left, n_right = left_counts.sum(1), right_counts.sum(1)
        gini_left = 1 - ((left_counts / np.maximum(n_left, 1)[:, None]) ** 2).sum(1)
        gini_right = 1 - ((right_counts / np.maximum(n_right, 1)[:, None]) ** 2).sum(1)
        impurity = (n_left * gini_left + n_right * gini_right) / n
        best = int(np.argmin(impurity))
        return int(features[best]), float(thresholds[best])

    def predict_proba(self, X) -> np.ndarray:
        """(N, classes): the mean over the trees of the class shares in each clip's leaf."""
        a = self.arrays
        X = np.asarray(X, np.float64)
        rows = np.arange(len(X))
        total = np.zeros((len(X), a["value"].shape[1]))
        for root in a["roots"]:
            node = np.full(len(X), root, np.int64)
            inner = a["feature"][node] != LEAF
            while inner.any():
                at = node[inner]
                go_left = X[rows[inner], a["feature"][at]] <= a["threshold"][at]
                node[inner] = np.where(go_left, a["left"][at], a["right"][at])
                inner = a["feature"][node] != LEAF
            total += a["value"][node]
        return total / len(a["roots"])

    # ---- a checkpoint's arrays --------------------------------------------------------------
    def state_dict(self) -> dict:
        return {f"trees.{k}": v for k, v in self.arrays.items()}

    def load_state_dict(self, state) -> "ExtraTrees":
        self.arrays = {k[len("trees."):]: np.asarray(v) for k, v in state.items() if k.startswith("trees.")}
        return self

    def eval(self):
        return self
