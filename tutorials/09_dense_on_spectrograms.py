# %% [markdown]
# # 9. A fully connected network on spectrograms
#
# The first audio classifier of the lecture: a dense network. Its input is a coarse
# log-mel picture — each of the 40 mel bands averaged over 8 equal stretches of time,
# 320 numbers per clip — and two hidden layers of ReLU units. The training loop is
# written out: mini-batches, forward, cross-entropy loss, backward, an optimiser step.
#
#     python tutorials/09_dense_on_spectrograms.py [--out DIR] [--quick]

# %%
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _audio_data import log_mel_data  # noqa: E402
from _common import saved, setup  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402

args = setup(__doc__)
epochs = 15 if args.quick else 60

# %% [markdown]
# ## The data
# Log-mel spectrograms (40 bands x 63 frames, one second at 8 kHz), standardised.

# %%
X, y, X_test, y_test, classes, title, _ = log_mel_data(args.quick)
print(f"{title}: {len(X)} training and {len(X_test)} test clips, input {X.shape[1:]}, "
      f"{len(classes)} classes")

# %% [markdown]
# ## The network and the training loop

# %%
al.manual_seed(0)
model = al.audio.AudioMLP(n_mels=40, n_classes=len(classes))
print(model)
print(f"{sum(p.size for p in model.parameters()):,} parameters")
optimizer = al.optim.Adam(model.parameters(), lr=1e-3)
loader = al.data.DataLoader(X, y, batch_size=64, shuffle=True, seed=0)


def accuracy(inputs, labels):
    model.eval()
    with al.no_grad():
        predicted = np.argmax(model(al.tensor(inputs)).data, axis=1)
    model.train()
    return float(np.mean(predicted == labels)), predicted


history = {"loss": [], "train accuracy": [], "test accuracy": []}
for epoch in range(1, epochs + 1):
    total = 0.0
    for xb, yb in loader:
        loss = al.nn.functional.cross_entropy(model(al.tensor(xb)), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(yb)
    history["loss"].append(total / len(X))
    history["train accuracy"].append(accuracy(X, y)[0])
    history["test accuracy"].append(accuracy(X_test, y_test)[0])
    if epoch % max(epochs // 6, 1) == 0 or epoch == epochs:
        print(f"  epoch {epoch:3d}  loss {history['loss'][-1]:.3f}  "
              f"train {history['train accuracy'][-1]:.3f}  test {history['test accuracy'][-1]:.3f}")

# %% [markdown]
# ## What it learned, and where it errs
# The gap between training and test accuracy is overfitting: 150,000 weights and a
# couple of thousand clips. The confusion matrix shows which classes it mixes up.

# %%
test_accuracy, predicted = accuracy(X_test, y_test)
confusion = np.zeros((len(classes), len(classes)), int)
np.add.at(confusion, (y_test, predicted), 1)
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
axes[0].plot(history["loss"], label="training loss")
axes[0].set_xlabel("epoch"); axes[0].set_ylabel("cross-entropy")
twin = axes[0].twinx()
twin.plot(history["train accuracy"], "--", color="C1", label="train accuracy")
twin.plot(history["test accuracy"], ":", color="C2", label="test accuracy")
twin.set_ylabel("accuracy")
axes[0].legend(loc="center left"); twin.legend(loc="center right")
axes[0].set_title(f"dense network on {title}")
plots.confusion_matrix(confusion, classes, ax=axes[1], title=f"test confusion matrix, accuracy {test_accuracy:.3f}")
saved(plots.save(fig, os.path.join(args.out, "09_dense_training.png")))
