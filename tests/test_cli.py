"""The command line: `python -m autograd_lab demo` runs and writes its pictures."""
import subprocess
import sys


def test_demo_runs_and_writes_its_pictures(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autograd_lab", "demo", "--steps", "50",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dL/da = dL/dd · dd/de · de/da = (-2)(1)(-3) = 6" in result.stdout
    for name in ("forward.svg", "backward.svg", "backward.png", "backprop_steps.html"):
        assert (tmp_path / name).stat().st_size > 1000, name


def test_bad_arguments_give_a_usage_line_not_a_traceback():
    result = subprocess.run([sys.executable, "-m", "autograd_lab", "nonsense"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "usage:" in result.stderr and "Traceback" not in result.stderr
