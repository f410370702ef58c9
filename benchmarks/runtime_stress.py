"""The Ctrl-C stress test of tests/test_runtime_sigint.py with more trials: SIGINT at random
moments of training, each followed by evaluations that must agree with one thread.

    python benchmarks/runtime_stress.py [--trials 100] [--seed 1] [--timeout 1200]

Each kernel family runs in its own process; a hang ends in a timeout (with every
thread's stack printed first), not in a stuck terminal.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STRESS = os.path.join(os.path.dirname(HERE), "tests", "runtime_stress.py")
FAMILIES = ("matmul", "conv", "pool")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="interrupts per kernel family")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per family")
    args = parser.parse_args()
    failed = 0
    for family in FAMILIES:
        start = time.perf_counter()
        env = dict(os.environ, STRESS_DEADLINE=str(args.timeout - 30))
        try:
            result = subprocess.run([sys.executable, STRESS, family, str(args.trials), str(args.seed)],
                                    capture_output=True, text=True, timeout=args.timeout, env=env)
            lines = result.stdout.strip().splitlines()
            summary = lines[-1] if lines else "(no output)"
            ok = result.returncode == 0
            if not ok:
                print(result.stdout[-2000:], result.stderr[-4000:], sep="\n")
        except subprocess.TimeoutExpired:
            summary, ok = f"{family}: no end after {args.timeout} s (a hang)", False
        failed += not ok
        print(f"{summary} ({time.perf_counter() - start:.0f} s)", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
