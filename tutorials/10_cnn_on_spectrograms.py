# %% [markdown]
# # 10. A convolutional network on spectrograms, and what it looks at
#
# `al.audio.AudioCNN`: three blocks of 3x3 convolution, batch normalisation, ReLU and
# 2x2 max pooling, then an average over the whole time-frequency plane and a small
# dense head. Fewer weights than the dense network of tutorial 9, and better accuracy:
# the filters are shared over time and frequency (tutorial 7). After training: the
# confusion matrix, the learned first-layer filters, and gradient saliency — the
# gradient of the winning class score with respect to the input shows which
# time-frequency cells, and which samples of the waveform, the decision depends on.
#
#     python tutorials/10_cnn_on_spectrograms.py [--out DIR] [--quick]

# %%
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _audio_data import FSDD, log_mel_data  # noqa: E402
from _common import saved, setup  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402

args = setup(__doc__)
epochs = 3 if args.quick else 20

# %% [markdown]
# ## Data and training

# %%
X, y, X_test, y_test, classes, title, (mean, std) = log_mel_data(args.quick)
al.manual_seed(0)
model = al.audio.AudioCNN(n_classes=len(classes))
print(f"AudioCNN: {sum(p.size for p in model.parameters()):,} parameters; {title}: "
      f"{len(X)} training clips")
optimizer = al.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
scheduler = al.optim.CosineAnnealingLR(optimizer, t_max=epochs)
augment = al.audio.Augment(seed=0)                   # time shifts and SpecAugment masks
loader = al.data.DataLoader(X, y, batch_size=64, shuffle=True, seed=0)
for epoch in range(1, epochs + 1):
    model.train()
    total = 0.0
    for xb, yb in loader:
        loss = al.nn.functional.cross_entropy(model(al.tensor(augment.spectrogram(xb))), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(yb)
    scheduler.step()
    print(f"  epoch {epoch:3d}  loss {total / len(X):.3f}")

model.eval()
with al.no_grad():
    predicted = np.concatenate([np.argmax(model(al.tensor(X_test[k:k + 256])).data, axis=1)
                                for k in range(0, len(X_test), 256)])
test_accuracy = float(np.mean(predicted == y_test))
print(f"test accuracy {test_accuracy:.3f} on {len(X_test)} clips")

# %% [markdown]
# ## Confusion matrix and first-layer filters
# Each 3x3 filter of the first layer is a tiny time-frequency pattern (frequency up,
# time to the right): edges along time (onsets), along frequency, diagonals (glides).

# %%
confusion = np.zeros((len(classes), len(classes)), int)
np.add.at(confusion, (y_test, predicted), 1)
saved(plots.save(plots.confusion_matrix(confusion, classes, title=f"CNN, test accuracy {test_accuracy:.3f}"),
                 os.path.join(args.out, "10_confusion.png")))
saved(plots.save(plots.filters(model.features[0].weight.data, title="learned first-layer filters"),
                 os.path.join(args.out, "10_filters.png")))

# %% [markdown]
# ## Saliency on the spectrogram
# Take a test clip, compute the score of the predicted class, and backpropagate to the
# input. |d score / d input| is large where a small change of the spectrogram would
# change the score most: the parts of the sound the decision rests on.

# %%
fig, axes = plt.subplots(2, 3, figsize=(14, 6), layout="constrained")
for column, k in enumerate(np.linspace(0, len(X_test) - 1, 3).astype(int)):
    x = al.tensor(X_test[k:k + 1], requires_grad=True)
    scores = model(x)
    winner = int(np.argmax(scores.data))
    scores[0, winner].backward()
    saliency = np.abs(x.grad[0, 0])
    axes[0, column].imshow(X_test[k, 0], origin="lower", aspect="auto", cmap="magma")
    axes[0, column].set_title(f"input: {classes[y_test[k]]} (predicted {classes[winner]})")
    axes[1, column].imshow(saliency, origin="lower", aspect="auto", cmap="hot")
    axes[1, column].set_title("|d score / d input|")
    for ax in axes[:, column]:
        ax.set_xlabel("frame"); ax.set_ylabel("mel band")
saved(plots.save(fig, os.path.join(args.out, "10_saliency_spectrogram.png")))

# %% [markdown]
# ## Saliency on the sound itself
# The log-mel front end is also available as engine operations (framing, a DFT written
# as matmuls, the mel matrix, the logarithm), so the gradient flows on, through the
# spectrogram, to every sample of the waveform. Note where it is largest: in the soft
# parts of the sound. The logarithm of the dB scale makes quiet cells sensitive (a small
# change of a small power is a large change in dB); in the padded silence, floored at
# top_db below the peak, the gradient is exactly zero.

# %%
config = al.audio.FeatureConfig()
if os.path.isdir(FSDD):
    test_set = al.audio.FSDD(FSDD, "test")
    samples, sr, label = test_set[int(np.flatnonzero(test_set.labels == 3)[0])]
else:
    sounds = al.audio.SyntheticSounds(n_per_class=1, split="test")
    samples, sr, label = sounds[sounds.classes.index("click train")]
prepared = config.waveform(samples, sr)                   # resampled, levelled, 1 s long
wave = al.tensor(prepared, requires_grad=True)
log_mel = al.audio.power_to_db(al.audio.melspectrogram(
    wave, sr=config.sr, n_fft=config.n_fft, hop_length=config.hop_length, n_mels=config.n_mels),
    top_db=config.top_db)
standardised = (log_mel - mean) / std                  # the training set's scaling
scores = model(al.reshape(standardised, (1, 1) + log_mel.shape))
winner = int(np.argmax(scores.data))
scores[0, winner].backward()
print(f"waveform saliency for a '{classes[label]}' clip (predicted {classes[winner]}): "
      f"gradient with respect to {wave.grad.size} samples")
t = np.arange(len(prepared)) / config.sr
envelope = np.convolve(np.abs(wave.grad), np.ones(80) / 80, mode="same")
fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True, layout="constrained")
axes[0].plot(t, prepared, lw=0.5)
axes[0].set_ylabel("amplitude"); axes[0].set_title(f"waveform: {classes[label]}")
axes[1].plot(t, envelope, color="C3")
axes[1].set_ylabel("|d score / d sample|\n(10 ms average)"); axes[1].set_xlabel("time (s)")
axes[1].set_title(f"saliency of the '{classes[winner]}' score on the waveform")
saved(plots.save(fig, os.path.join(args.out, "10_saliency_waveform.png")))
