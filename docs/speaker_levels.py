"""How the five speakers' recordings in the spoken-digit set differ: length, level, noise
floor, DC offset and the floor in a few mel bands, medians over each speaker's files.

    python docs/speaker_levels.py [--data ../shared/data/fsdd]

Levels from 20-ms frames (10-ms hops): "loudest" is the loudest frame's power (dBFS),
"floor" the 10th percentile of the frames, "range" their difference; "band floor" is the
10th percentile over frames of each log-mel band (the features `autograd-lab train`
chooses: 8 kHz, n_fft 256, hop 96, 40 mels; every 5th file, not padded) below the clip's
loudest bin.
"""
import argparse
import collections
import glob
import os

import numpy as np
import soundfile as sf

from autograd_lab.audio.prepare import FeatureConfig, normalize_loudness


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "fsdd"))
    args = parser.parse_args()
    config = FeatureConfig(sr=8000, duration=0.75, n_fft=256, hop_length=96, n_mels=40)
    bands = [0, 10, 20, 39]
    stats, floors = collections.defaultdict(list), collections.defaultdict(list)
    files = sorted(glob.glob(os.path.join(args.data, "recordings", "*.wav")))
    for k, path in enumerate(files):
        speaker = os.path.basename(path).split("_")[1]
        y, sr = sf.read(path, dtype="float32")
        y = y.mean(axis=1) if y.ndim > 1 else y
        frames = np.lib.stride_tricks.sliding_window_view(y, sr // 50)[::sr // 100]
        power = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
        stats[speaker].append([len(y) / sr, power.max(), np.percentile(power, 10),
                               power.max() - np.percentile(power, 10), 1000 * np.mean(y)])
        if k % 5 == 0:
            S = config.log_mel(normalize_loudness(y, config.loudness_db))
            floors[speaker].append(np.percentile(S, 10, axis=1) - S.max())
    hz = config.band_frequencies()
    print("speaker   length_s  loudest_dB  floor_dB  range_dB  dc_x1000  " +
          "  ".join(f"band_floor_{hz[b]:.0f}Hz" for b in bands))
    for speaker in sorted(stats):
        m, f = np.median(stats[speaker], axis=0), np.median(floors[speaker], axis=0)
        print(f"{speaker:9} {m[0]:8.2f} {m[1]:11.1f} {m[2]:9.1f} {m[3]:9.1f} {m[4]:9.2f}  " +
              "  ".join(f"{f[b]:16.1f}" for b in bands))


if __name__ == "__main__":
    main()
