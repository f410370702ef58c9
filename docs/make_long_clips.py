"""A folder of long, high-rate recordings made from the spoken digits, to try the
command line on data unlike the one it was first built for.

    python docs/make_long_clips.py OUT [--data ../shared/data/fsdd] [--per-class 32] [--seed 0]

Each clip is 4-6 s at 44.1 kHz: three to six utterances of one digit by one speaker at
random places, over background noise of random colour (white, pink or brown) at 0-15 dB
SNR, written as OUT/{digit}/{speaker}-{n}.wav. Every utterance is used at most once.
"""
import argparse
import os
import sys

import numpy as np

import autograd_lab as al
from autograd_lab.audio.datasets import _coloured_noise

RATE = 44100


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                       "data", "fsdd"))
    parser.add_argument("--per-class", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    fsdd = al.audio.FSDD(args.data, "all")
    pool = {}                                   # (digit, speaker) -> unused file indices
    for i, (label, speaker) in enumerate(zip(fsdd.labels, fsdd.speakers)):
        pool.setdefault((int(label), speaker), []).append(i)
    for key in pool:
        pool[key] = list(rng.permutation(pool[key]))
    speakers = fsdd.all_speakers
    for digit in range(10):
        os.makedirs(os.path.join(args.out, str(digit)), exist_ok=True)
        for n in range(args.per_class):
            speaker = speakers[n % len(speakers)]
            seconds = rng.uniform(4.0, 6.0)
            clip = np.zeros(int(seconds * 8000))
            for _ in range(int(rng.integers(3, 7))):
                if not pool[(digit, speaker)]:
                    break
                y, _, _ = fsdd[pool[(digit, speaker)].pop()]
                y = y[:len(clip)] * 10 ** (rng.uniform(-6, 0) / 20)
                start = int(rng.integers(0, len(clip) - len(y) + 1))
                clip[start:start + len(y)] += y
            power = np.mean(clip ** 2)
            noise = _coloured_noise(rng, len(clip), rng.choice(["white", "pink", "brown"]))
            clip += noise * np.sqrt(power / 10 ** (rng.uniform(0, 15) / 10))
            clip = al.audio.resample(clip.astype(np.float32), 8000, RATE)
            clip *= 0.5 / max(np.abs(clip).max(), 1e-9)
            al.audio.save(os.path.join(args.out, str(digit), f"{speaker}-{n}.wav"), clip, RATE)
    print(f"{10 * args.per_class} clips in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
