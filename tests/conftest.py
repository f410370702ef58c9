import os
import sys

from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

# CI machines are shared and slow: no per-example deadline, a fixed example budget.
settings.register_profile("default", deadline=None, max_examples=25, derandomize=True)
# Kernels run as plain Python under NUMBA_DISABLE_JIT=1: fewer, same-seeded examples.
settings.register_profile("nojit", deadline=None, max_examples=8, derandomize=True)
settings.load_profile("default")
