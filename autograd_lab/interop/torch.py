"""The PyTorch bridge: our models as torch modules that load our weights.

`export_torch(model)` builds the equivalent `torch.nn.Module` (same layers, same
parameter names) and fills it with `load_state_dict`, so a network trained here
continues in PyTorch: on a GPU, or on many with DistributedDataParallel
(docs/interop.md). `torch_state_dict(model)` gives just the tensors, for a torch
module you wrote yourself with the same names. torch is imported only here, and only
when called: it is never a dependency of autograd_lab.

Names match PyTorch's on purpose: Linear.weight is (out, in), Conv2d.weight is
(out, in, kh, kw), BatchNorm has weight, bias, running_mean and running_var.
"""
from __future__ import annotations

import numpy as np


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("export_torch needs PyTorch: pip install torch (CPU wheels: "
                          "https://pytorch.org/get-started/locally/)") from None
    return torch


def torch_state_dict(model):
    """{name: torch.Tensor} of the model's parameters and buffers (copies)."""
    torch = _torch()
    return {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def to_torch_module(module):
    """The torch.nn equivalent of one of our modules, with fresh (untrained) weights."""
    torch = _torch()
    tnn = torch.nn
    from .. import nn
    from ..audio.models import AudioCNN, AudioMLP

    if isinstance(module, AudioCNN):
        return _TorchAudioCNN(module)
    if isinstance(module, AudioMLP):
        return _TorchAudioMLP(module)
    if isinstance(module, nn.Sequential):
        return tnn.Sequential(*(to_torch_module(m) for m in module))
    if isinstance(module, nn.Linear):
        return tnn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    if isinstance(module, nn.Conv2d):
        return tnn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                          padding=module.padding, dilation=module.dilation, groups=getattr(module, "groups", 1),
                          bias=module.bias is not None)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        cls = tnn.BatchNorm1d if isinstance(module, nn.BatchNorm1d) else tnn.BatchNorm2d
        return cls(module.num_features, eps=module.eps, momentum=module.momentum,
                   affine=module.weight is not None)
    if isinstance(module, nn.AvgPool2d):
        return tnn.AvgPool2d(module.kernel_size, module.stride, module.padding)
    if isinstance(module, nn.MaxPool2d):
        return tnn.MaxPool2d(module.kernel_size, module.stride, module.padding)
    if isinstance(module, nn.GlobalAvgPool2d):
        return tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten(1))
    simple = {nn.Flatten: lambda m: tnn.Flatten(1), nn.Dropout: lambda m: tnn.Dropout(m.p),
              nn.ReLU: lambda m: tnn.ReLU(), nn.Tanh: lambda m: tnn.Tanh(), nn.Sigmoid: lambda m: tnn.Sigmoid(),
              nn.LeakyReLU: lambda m: tnn.LeakyReLU(m.negative_slope), nn.Softmax: lambda m: tnn.Softmax(m.axis)}
    for cls, make in simple.items():
        if type(module) is cls:
            return make(module)
    raise TypeError(f"export_torch: no PyTorch equivalent known for {type(module).__name__}")


def export_torch(model):
    """A torch.nn.Module equivalent to `model`, holding its weights (loaded with load_state_dict).

    The result is in eval mode, as our model after training; call .train() to go on
    training. An AudioClassifier gives the torch version of its network; its input
    scaling and feature settings stay with the classifier (classifier.mean, .std,
    .config).
    """
    from ..audio.classifier import AudioClassifier
    network = model.model if isinstance(model, AudioClassifier) else model
    module = to_torch_module(network)
    module.load_state_dict(torch_state_dict(network), strict=False)
    _check_loaded(module, network)
    return module.eval()


def _check_loaded(module, network):
    # Both sides keep BatchNorm's num_batches_tracked (ours counts batches as torch does), so
    # every key is compared. export_torch loads with strict=False only so that a mismatch is
    # reported here, naming the keys on each side, instead of by torch's generic error.
    ours, theirs = set(network.state_dict()), set(module.state_dict())
    if ours != theirs:
        raise TypeError(f"export_torch: parameter names differ; only ours: {sorted(ours - theirs)}, "
                        f"only torch's: {sorted(theirs - ours)}")


def _TorchAudioCNN(model):
    tnn = _torch().nn

    class AudioCNN(tnn.Module):
        """autograd_lab.audio.AudioCNN in PyTorch: same layers, same parameter names."""

        def __init__(self):
            super().__init__()
            self.features = to_torch_module(model.features)
            self.pool = to_torch_module(model.pool)
            self.head = to_torch_module(model.head)

        def forward(self, x):
            return self.head(self.pool(self.features(x)))
    return AudioCNN()


def _TorchAudioMLP(model):
    tnn = _torch().nn
    n_mels, segments = model.n_mels, model.segments

    class AudioMLP(tnn.Module):
        """autograd_lab.audio.AudioMLP in PyTorch: frames averaged into `segments` stretches, then dense layers."""

        def __init__(self):
            super().__init__()
            self.net = to_torch_module(model.net)

        def forward(self, x):
            n, frames = x.shape[0], x.shape[3]
            width = frames // segments
            x = x[:, 0, :, :width * segments].reshape(n, n_mels, segments, width).mean(dim=3)
            return self.net(x.reshape(n, n_mels * segments))
    return AudioMLP()
