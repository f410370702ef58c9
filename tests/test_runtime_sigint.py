"""Ctrl-C (SIGINT) at random moments of training, many times, for each kernel family.

Each family runs in its own subprocess with a timeout, so a hang fails the test
instead of hanging the suite; tests/runtime_stress.py says what a trial does.
benchmarks/runtime_stress.py runs more trials.
"""
import os
import subprocess
import sys

import pytest

from runtime_stress import FAMILIES

HERE = os.path.dirname(os.path.abspath(__file__))
TRIALS = 20          # per family: 60 interrupts in all
TIMEOUT = 600        # seconds per family; a healthy run takes 10-60 s (beside the other test worker)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_interrupted_training_never_hangs_and_later_results_agree_with_one_thread(family):
    command = [sys.executable, os.path.join(HERE, "runtime_stress.py"), family, str(TRIALS), "17"]
    try:
        env = dict(os.environ, STRESS_DEADLINE=str(TIMEOUT - 20))     # stacks on stderr if it hangs
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired as hung:
        done = (hung.stdout or b"").decode() if isinstance(hung.stdout, bytes) else (hung.stdout or "")
        pytest.fail(f"{family}: no end after {TIMEOUT} s (a hang); trials done:\n{done[-2000:]}")
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert lines[-1] == f"{family}: {TRIALS} interrupts, 0 wrong", result.stdout[-2000:]
    assert sum("evaluations agree" in line for line in lines) == TRIALS
