# %% [markdown]
# # 8. From a waveform to a log-mel spectrogram
#
# Networks for audio rarely look at raw samples. The usual input is a picture of the
# sound: how much energy there is at each frequency, over time. Four steps:
# the waveform; the short-time Fourier transform (STFT: spectra of short, overlapping,
# windowed frames); the mel filterbank (triangles that pool frequencies the way the
# ear resolves them, finely at low and coarsely at high frequencies); and decibels
# (log compression, as loudness is perceived).
#
#     python tutorials/08_spectrograms.py [--out DIR] [--quick]

# %%
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402

args = setup(__doc__)

# %% [markdown]
# ## The waveform
# A spoken "seven" from the Free Spoken Digit Dataset when it is beside the checkout
# (`../shared/data/fsdd`), otherwise a synthetic harmonic sound.

# %%
fsdd = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "fsdd",
                    "recordings", "7_jackson_0.wav")
if os.path.exists(fsdd):
    y, sr = al.audio.load(fsdd)
    name = "spoken 'seven' (FSDD, jackson)"
else:
    sounds = al.audio.SyntheticSounds(n_per_class=1, seed=1)
    y, sr, _ = sounds[sounds.classes.index("harmonic stack")]
    name = "synthetic harmonic stack"
print(f"{name}: {len(y)} samples at {sr} Hz = {len(y) / sr:.2f} s, peak {np.abs(y).max():.2f}")
n_fft, hop, n_mels = 256, 64, 40

# %% [markdown]
# ## The STFT
# Frames of n_fft = 256 samples (32 ms at 8 kHz), one every hop_length = 64 samples,
# each multiplied by a Hann window and Fourier transformed. |STFT|^2 is the power
# spectrogram: 129 frequency bins from 0 to sr/2.

# %%
D = al.audio.stft(y, n_fft=n_fft, hop_length=hop)
power = np.abs(D) ** 2
print(f"STFT: {D.shape[0]} frequency bins x {D.shape[1]} frames, complex {D.dtype}")

# %% [markdown]
# ## The mel filterbank
# 40 triangular filters, evenly spaced on the mel scale: linear below 1 kHz and
# logarithmic above, like the ear's frequency resolution. Slaney normalisation divides
# each triangle by its width, so every band has the same total weight in Hz.

# %%
fb = al.audio.mel_filters(sr, n_fft, n_mels=n_mels)
mel = fb @ power                                       # = al.audio.melspectrogram(...)
assert np.allclose(mel, al.audio.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels))
log_mel = al.audio.power_to_db(mel, ref=np.max)
print(f"mel spectrogram: {mel.shape}; in dB relative to its maximum: {log_mel.min():.0f} to {log_mel.max():.0f} dB")

# %%
seconds = np.arange(len(y)) / sr
freqs = al.audio.fft_frequencies(sr, n_fft)
fig, axes = plt.subplots(4, 1, figsize=(8, 11), layout="constrained")
axes[0].plot(seconds, y, lw=0.6)
axes[0].set_xlim(0, seconds[-1]); axes[0].set_xlabel("time (s)"); axes[0].set_ylabel("amplitude")
axes[0].set_title(f"1. waveform: {name}")
extent = [0, D.shape[1] * hop / sr, 0, sr / 2]
im = axes[1].imshow(al.audio.power_to_db(power, ref=np.max), origin="lower", aspect="auto",
                    cmap="magma", extent=extent)
axes[1].set_xlabel("time (s)"); axes[1].set_ylabel("frequency (Hz)")
axes[1].set_title(f"2. STFT power in dB ({D.shape[0]} linear frequency bins)")
fig.colorbar(im, ax=axes[1], label="dB")
for band in fb:
    axes[2].plot(freqs, band)
axes[2].set_xlabel("frequency (Hz)"); axes[2].set_ylabel("weight")
axes[2].set_title(f"3. mel filterbank: {n_mels} triangles (narrow at low, wide at high frequencies)")
plots.spectrogram(log_mel, sr=sr, hop_length=hop, ax=axes[3], title="4. log-mel spectrogram (dB)")
saved(plots.save(fig, os.path.join(args.out, "08_waveform_to_log_mel.png")))

# %% [markdown]
# ## Mel scale and MFCCs
# The mel scale against Hz, and the MFCCs: a discrete cosine transform of each log-mel
# frame, which summarises the spectral envelope in a few coefficients.

# %%
hz = np.linspace(0, sr / 2, 200)
mfcc = al.audio.mfcc(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, n_mfcc=13)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), layout="constrained")
for htk, style, label in ((False, "-", "Slaney (librosa's default)"), (True, "--", "HTK")):
    mels = al.audio.hz_to_mel(hz, htk=htk)
    axes[0].plot(hz, mels / mels[-1], style, label=label)      # the two scales use different units
axes[0].set_xlabel("frequency (Hz)"); axes[0].set_ylabel(f"mel, as a share of mel({sr // 2} Hz)")
axes[0].legend(); axes[0].set_title("the mel scale: equal steps in pitch")
im = axes[1].imshow(mfcc[1:], origin="lower", aspect="auto", cmap="coolwarm",
                    extent=[0, mfcc.shape[1] * hop / sr, 0.5, mfcc.shape[0] - 0.5])
axes[1].set_xlabel("time (s)"); axes[1].set_ylabel("coefficient")
axes[1].set_title("MFCCs 1-12 (coefficient 0, the overall level, left out)")
fig.colorbar(im, ax=axes[1])
saved(plots.save(fig, os.path.join(args.out, "08_mel_scale_mfcc.png")))
print(f"MFCC: {mfcc.shape}")
