"""Leave-one-speaker-out on the Free Spoken Digit Dataset, through the command line.

    python docs/leave_one_speaker_out.py [--data ../shared/data/fsdd] [--speaker NAME ...] [-- FLAGS]

For each speaker: `autograd-lab train --test-speaker NAME` with the command line's
defaults (and any FLAGS after `--`), training on the others and testing on all of NAME's
recordings, then a markdown table of the test accuracies and wall times for docs/audio.md.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import autograd_lab as al


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                       "data", "fsdd"))
    parser.add_argument("--speaker", action="append", help="only these speakers (default: all)")
    parser.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    parser.add_argument("flags", nargs="*", help="more `autograd-lab train` flags, after --")
    args = parser.parse_args()
    speakers = args.speaker or al.audio.FSDD(args.data, "all").all_speakers
    out = args.out or tempfile.mkdtemp(prefix="loso-")
    rows = []
    for speaker in speakers:
        run_dir = os.path.join(out, speaker)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autograd_lab", "train", "--data", args.data,
                        "--test-speaker", speaker, "--out", run_dir, "--quiet", *args.flags], check=True)
        seconds = time.perf_counter() - start
        with open(os.path.join(run_dir, "metrics.json")) as f:
            metrics = json.load(f)
        rows.append((speaker, metrics["test"]["accuracy"], metrics["test"]["n"], seconds))
        print(f"{speaker}: {metrics['test']['accuracy']:.3f} ({seconds:.0f} s)", flush=True)
    print("\n| test speaker | test accuracy | test clips | wall time |\n|---|---|---|---|")
    for speaker, accuracy, n, seconds in rows:
        print(f"| {speaker} | {accuracy:.3f} | {n} | {seconds:.0f} s |")
    mean = sum(r[1] for r in rows) / len(rows)
    print(f"| **mean** | **{mean:.3f}** | |")


if __name__ == "__main__":
    main()
