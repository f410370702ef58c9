"""A source of random shapes and arrays for the op table's samplers, driven by hypothesis.

Shapes (the structure that finds bugs: size-1 axes, broadcasting, 0-d) are
drawn by hypothesis so failures shrink; array values come from a numpy
generator seeded by hypothesis, which is much faster than drawing floats.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


class HypothesisGen:
    def __init__(self, data, max_side=4):
        self.data = data
        self.max_side = max_side
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))

    def shape(self, min_dims=0, max_dims=3):
        return self.data.draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                                               min_side=1, max_side=self.max_side), label="shape")

    def broadcastable(self, n, max_dims=3):
        shapes = self.data.draw(hnp.mutually_broadcastable_shapes(
            num_shapes=n, min_dims=0, max_dims=max_dims, min_side=1, max_side=self.max_side),
            label="shapes")
        return shapes.input_shapes

    def array(self, shape, low=-2.0, high=2.0, avoid=()):
        values = self.rng.uniform(low, high, size=shape)
        for point in avoid:   # keep finite differences away from kinks and poles
            near = np.abs(values - point) < 0.15
            values[near] = point + np.where(values[near] >= point, 0.15, -0.15)
        return values

    def int_array(self, shape, low, high):
        return self.rng.integers(low, high + 1, size=shape)

    def integers(self, low, high):
        return self.data.draw(st.integers(low, high))

    def boolean(self):
        return self.data.draw(st.booleans())

    def choice(self, options):
        return self.data.draw(st.sampled_from(options))

    def permutation(self, n):
        return self.data.draw(st.permutations(range(n)))

    def axis(self, ndim):
        options = [None] + list(range(-ndim, ndim))
        if ndim > 1:
            options.append(tuple(range(0, ndim, 2)))
        return self.choice(options)
