# %% [markdown]
# # 7. Convolution: local dot products, shared weights, equivariance, pooling
#
# A convolutional layer slides one small filter over the whole input. Each output value
# is the dot product of the filter with the patch of input under it (a *local* dot
# product), and every position uses the *same* weights. Two consequences: far fewer
# parameters than a dense layer, and *translation equivariance* — shift the input (a
# sound starting later, or a higher pitch) and the feature map shifts the same way.
# Pooling then aggregates neighbourhoods, so small shifts barely change its output.
#
#     python tutorials/07_convolution.py [--out DIR] [--quick]

# %%
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab.nn import functional as F  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402

args = setup(__doc__)

# %% [markdown]
# ## A spectrogram and a filter
# The input is the log-mel spectrogram of a rising chirp (a synthetic sound), shape
# (batch 1, channel 1, 40 mel bands, 63 frames), scaled to zero mean and unit spread.
# The filter is a 3x3 detector of rising lines: positive on the diagonal, negative
# around it.

# %%
sounds = al.audio.SyntheticSounds(n_per_class=1, seed=3)
samples, sr, _ = sounds[sounds.classes.index("rising chirp")]
S = al.audio.FeatureConfig().features(samples, sr)              # (1, 40, 63)
S = (S - S.mean()) / S.std()
x = al.tensor(S[None])                                          # (1, 1, 40, 63)
rising = np.array([[-1, -1, 2],
                   [-1, 2, -1],
                   [2, -1, -1]], np.float32)[::-1].copy()       # row 0 is the lowest band
w = al.tensor(rising[None, None])                               # (out 1, in 1, 3, 3)
feature_map = F.conv2d(x, w, padding=1)
print(f"input {x.shape} * filter {w.shape} -> feature map {feature_map.shape}")

# %% [markdown]
# ## One output value is a local dot product
# Pick the strongest output position; the 3x3 patch of input around it, multiplied
# element by element with the filter and summed, gives exactly that value.

# %%
fm = feature_map.data[0, 0]
band, frame = np.unravel_index(np.argmax(fm), fm.shape)
padded = np.pad(S[0], 1)
patch = padded[band:band + 3, frame:frame + 3]
by_hand = float(np.sum(patch * rising))
print(f"output at (band {band}, frame {frame}): conv2d {fm[band, frame]:.5f}, "
      f"sum(patch * filter) {by_hand:.5f}")
assert abs(by_hand - fm[band, frame]) < 1e-4

fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), layout="constrained",
                         gridspec_kw={"width_ratios": [4, 1, 4]})
axes[0].imshow(S[0], origin="lower", aspect="auto", cmap="magma")
axes[0].add_patch(plt.Rectangle((frame - 1.5, band - 1.5), 3, 3, fill=False, color="cyan", lw=2))
axes[0].set_title("input: log-mel of a rising chirp (cyan: one patch)")
axes[1].imshow(rising, origin="lower", cmap="RdBu_r", vmin=-2, vmax=2)
for (i, j), v in np.ndenumerate(rising):
    axes[1].text(j, i, f"{v:+.0f}", ha="center", va="center")
axes[1].set_title("filter (3x3)")
axes[2].imshow(fm, origin="lower", aspect="auto", cmap="viridis")
axes[2].plot(frame, band, "c+", ms=14, mew=2)
axes[2].set_title(f"feature map: {fm[band, frame]:.2f} = sum(patch x filter) at +")
for ax in (axes[0], axes[2]):
    ax.set_xlabel("frame"); ax.set_ylabel("mel band")
saved(plots.save(fig, os.path.join(args.out, "07_local_dot_product.png")))

# %% [markdown]
# ## Shared weights: how many parameters?
# Eight 3x3 filters on one input channel need 8 * (9 + 1) = 80 parameters, whatever the
# size of the spectrogram. A dense layer producing the same 8 x 40 x 63 outputs from the
# 40 x 63 inputs would need one weight per (input, output) pair.

# %%
conv = al.nn.Conv2d(1, 8, 3, padding=1)
conv_params = sum(p.size for p in conv.parameters())
dense_params = (40 * 63) * (8 * 40 * 63) + 8 * 40 * 63
print(f"  conv layer: {conv_params} parameters; equivalent dense layer: {dense_params:,} "
      f"({dense_params / conv_params:,.0f} times more)")

# %% [markdown]
# ## Translation equivariance, numerically
# Shift the input 7 frames later (the sound starts later) and 4 bands higher (a higher
# pitch). Convolving the shifted input gives the shifted feature map: away from the
# borders, where zeros came in, the two agree to rounding error.

# %%
def shift(a, frames, bands):
    out = np.full_like(a, a.min())
    out[..., bands:, frames:] = a[..., :a.shape[-2] - bands, :a.shape[-1] - frames]
    return out


dt, df = 7, 4
shifted_map = F.conv2d(al.tensor(shift(S[None], dt, df)), w, padding=1).data[0, 0]
map_of_shifted_input, shifted_feature_map = shifted_map, shift(fm, dt, df)
interior = (slice(df + 2, -2), slice(dt + 2, -2))
difference = np.abs(map_of_shifted_input - shifted_feature_map)[interior]
print(f"  conv(shift(x)) vs shift(conv(x)), away from the borders: largest difference "
      f"{difference.max():.2e} (feature map values up to {np.abs(fm).max():.1f})")
assert difference.max() < 1e-4

fig, axes = plt.subplots(1, 3, figsize=(14, 3.4), layout="constrained")
for ax, image, title in zip(axes, (map_of_shifted_input, shifted_feature_map,
                                   np.abs(map_of_shifted_input - shifted_feature_map)),
                            ("conv(shifted input)", "shift(conv(input))", "difference")):
    im = ax.imshow(image, origin="lower", aspect="auto", cmap="viridis")
    ax.set_title(title); ax.set_xlabel("frame"); ax.set_ylabel("mel band")
    fig.colorbar(im, ax=ax)
fig.suptitle(f"equivariance: shifting by {dt} frames and {df} bands commutes with convolution "
             "(differences only at the borders)")
saved(plots.save(fig, os.path.join(args.out, "07_equivariance.png")))

# %% [markdown]
# ## Pooling: local aggregation and down-sampling
# 2x2 max pooling keeps the largest value of each 2x2 block: the map gets half as tall
# and half as wide. Shift the input by a single frame: the feature map itself moves, so
# compared position by position much of it changes; after pooling, values mostly stay in
# their block, so fewer outputs change. Global pooling (one number per channel) does not
# change at all, away from the borders.

# %%
one_frame = F.conv2d(al.tensor(shift(S[None], 1, 0)), w, padding=1)
pooled, pooled_shifted = F.max_pool2d(feature_map, 2).data[0, 0], F.max_pool2d(one_frame, 2).data[0, 0]


def share_changed(a, b, tolerance=0.1 * np.abs(fm).max()):
    """The share of positions whose value moved by more than 10 % of the map's range."""
    return float(np.mean(np.abs(a - b) > tolerance))


before = share_changed(fm[:, 2:-2], one_frame.data[0, 0][:, 2:-2])
after = share_changed(pooled[:, 1:-1], pooled_shifted[:, 1:-1])
print(f"  a one-frame shift changes {before:.0%} of the feature map's values noticeably, "
      f"and {after:.0%} of the 2x2 max-pooled map's")
print(f"  global max: {fm.max():.4f} before, {one_frame.data.max():.4f} after the shift")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
axes[0].imshow(fm, origin="lower", aspect="auto", cmap="viridis")
axes[0].set_title(f"feature map {fm.shape}")
axes[1].imshow(pooled, origin="lower", aspect="auto", cmap="viridis")
axes[1].set_title(f"after 2x2 max pooling {pooled.shape}")
for ax in axes:
    ax.set_xlabel("frame"); ax.set_ylabel("mel band")
saved(plots.save(fig, os.path.join(args.out, "07_pooling.png")))
