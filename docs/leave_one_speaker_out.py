"""Leave-one-speaker-out on the Free Spoken Digit Dataset, through the command line.

    python docs/leave_one_speaker_out.py [--data ../shared/data/fsdd] [--model cnn] [--epochs 60]

For each speaker: `autograd-lab train --test-speaker NAME` (train on the others, test on
all of NAME's recordings), then a markdown table of the test accuracies for docs/audio.md.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import autograd_lab as al


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                       "data", "fsdd"))
    parser.add_argument("--model", default="cnn", choices=("cnn", "mlp"))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    speakers = al.audio.FSDD(args.data, "all").all_speakers
    out = args.out or tempfile.mkdtemp(prefix="loso-")
    rows = []
    for speaker in speakers:
        run_dir = os.path.join(out, speaker)
        subprocess.run([sys.executable, "-m", "autograd_lab", "train", "--data", args.data,
                        "--model", args.model, "--epochs", str(args.epochs), "--seed", str(args.seed),
                        "--test-speaker", speaker, "--out", run_dir, "--quiet"], check=True)
        with open(os.path.join(run_dir, "metrics.json")) as f:
            metrics = json.load(f)
        rows.append((speaker, metrics["test"]["accuracy"], metrics["test"]["n"], metrics["seconds"]))
        print(f"{speaker}: {metrics['test']['accuracy']:.3f}", flush=True)
    print("\n| test speaker | test accuracy | test clips |\n|---|---|---|")
    for speaker, accuracy, n, _ in rows:
        print(f"| {speaker} | {accuracy:.3f} | {n} |")
    mean = sum(r[1] for r in rows) / len(rows)
    print(f"| **mean** | **{mean:.3f}** | |")


if __name__ == "__main__":
    main()
