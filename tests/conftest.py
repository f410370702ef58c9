import os
import sys

from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

# CI machines are shared and slow: no per-example deadline, a fixed example budget.
settings.register_profile("default", deadline=None, max_examples=25, derandomize=True)
settings.load_profile("default")
