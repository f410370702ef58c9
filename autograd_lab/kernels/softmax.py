"""Log-softmax with numpy, and softmax cross-entropy over the rows of a (batch, classes)
array in one compiled pass.

numpy needs a dozen calls for it (max, subtract, exp, sum, log, subtract,
multiply, sum, and the checks for non-finite values), each a few µs on a
classifier's (64, 10) logits: 22 µs, the cost of a 64x128 by 128x10 product
four times over. One compiled pass per row does it in about 1 µs.

The results are those of numpy's `log_softmax` below, non-finite cases included:
a row's maximum is taken as 0 when it is not finite, and a target probability
of 0 contributes 0 even where the log-probability is -inf.
"""
from __future__ import annotations

import math

import numpy as np

from . import jit


def _cross_entropy_rows(x, q, log_probs):
    """log_probs = log_softmax(x) row by row; returns sum(q * log_probs) (0 * -inf as 0)."""
    total = 0.0
    rows, classes = x.shape
    for i in range(rows):
        shift = x[i, 0]
        for j in range(1, classes):
            v = x[i, j]
            if v > shift or v != v:       # NaN wins, as in np.max
                shift = v
        if math.isfinite(shift):          # every x - shift <= 0: exp cannot overflow
            exp_sum = 0.0                 # accumulated in float64; >= 1 (the maximum's term)
            for j in range(classes):
                exp_sum += math.exp(x[i, j] - shift)
            log_sum = math.log(exp_sum)
            for j in range(classes):
                log_probs[i, j] = (x[i, j] - shift) - log_sum
        else:      # numpy's inf - inf: NaN for a NaN or all -inf row, and at each +inf logit
            for j in range(classes):
                plus_inf = shift == math.inf and x[i, j] == math.inf
                log_probs[i, j] = math.nan if shift != math.inf or plus_inf else -math.inf
        for j in range(classes):
            if q[i, j] != 0:
                total += q[i, j] * log_probs[i, j]
    return total


def _cross_entropy_grad_rows(log_probs, q, scale, out):
    """out = (exp(log_probs) - q) * scale: the cross-entropy's gradient for its logits."""
    rows, classes = log_probs.shape
    for i in range(rows):
        for j in range(classes):
            out[i, j] = (math.exp(log_probs[i, j]) - q[i, j]) * scale


def _one_hot(indices, value, out):
    """out[i, indices[i]] = value on zeroed `out`; returns the position of the first index
    outside [0, classes), or -1."""
    classes = out.shape[1]
    for i in range(indices.size):
        k = indices[i]
        if k < 0 or k >= classes:
            return i
        out[i, k] = value
    return -1


cross_entropy_rows = jit(_cross_entropy_rows)
cross_entropy_grad_rows = jit(_cross_entropy_grad_rows)
one_hot_rows = jit(_one_hot)


def cross_entropy(x, q):
    """(-sum(q * log_softmax(x)) / batch, log_softmax(x)) for 2-D float x and q of x's shape and dtype."""
    x = np.ascontiguousarray(x)
    q = np.ascontiguousarray(q, dtype=x.dtype)
    log_probs = np.empty_like(x)
    if x.shape[1] == 0:
        return np.asarray(0.0, x.dtype), log_probs
    total = cross_entropy_rows(x, q, log_probs)
    return np.asarray(np.float64(-total) / x.shape[0], x.dtype), log_probs   # 0 rows: nan, as numpy


def cross_entropy_grad(g, log_probs, q):
    """g * (softmax - q) / batch from the forward's log-probabilities, for a scalar g."""
    log_probs = np.ascontiguousarray(log_probs)
    out = np.empty_like(log_probs)
    cross_entropy_grad_rows(log_probs, np.ascontiguousarray(q, dtype=out.dtype),
                            float(g) / max(log_probs.shape[0], 1), out)    # 0 rows: nothing to scale
    return out


def one_hot(indices, classes, value, dtype):
    """(len(indices), classes) of zeros with `value` at each row's index; IndexError naming
    the first index outside [0, classes)."""
    out = np.zeros((indices.shape[0], classes), dtype)
    bad = one_hot_rows(indices, value, out)
    if bad >= 0:
        raise IndexError(f"index {indices[bad]} at position {bad} is outside [0, {classes})")
    return out


# ---- numpy: the log_softmax op (any axis), and the compiled kernels' references ----
def max_shift(x, axis):
    """The largest element of array x along `axis` (kept), non-finite maxima as 0.

    Subtracting it from every logit changes neither logsumexp-style results nor
    their gradients, keeps exp() from overflowing and the differences exact.
    """
    x = np.asarray(x)
    shift = x.max(axis=axis, keepdims=True)    # the method: 2 µs less than np.max on small arrays
    if not np.isfinite(shift).all():
        shift = np.where(np.isfinite(shift), shift, 0).astype(x.dtype)
    return shift


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`."""
    z = x - max_shift(x, axis)      # exp(z) <= 1: nothing overflows
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def cross_entropy_grad_reference(g, log_probs, q):
    return g * (np.exp(log_probs) - q) / log_probs.shape[0]


def cross_entropy_reference(x, q):
    with np.errstate(all="ignore"):      # rows with inf or NaN give NaN, as they should
        log_probs = log_softmax(x)
        total = np.sum(np.where(q != 0, q * log_probs, 0))
    return np.asarray(-total / x.shape[0], x.dtype), log_probs
