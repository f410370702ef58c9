"""autograd_lab: a reverse-mode autodiff engine that records every operation as a
graph, for teaching and learning deep learning for audio.

>>> import autograd_lab as al
>>> x = al.tensor([1.0, -2.0], requires_grad=True)
>>> loss = (x.tanh() ** 2).sum()
>>> loss.backward()
>>> x.grad.round(4)            # 2 tanh(x) (1 - tanh(x)^2)
array([ 0.6397, -0.1362], dtype=float32)
"""
from .core.errors import AnomalyError, GradcheckError, GraphFreedError, ShapeError
from .core.node import Node, Tensor, Value, tensor
from .core.state import (detect_anomaly, enable_grad, get_default_dtype, inference_mode,
                         is_grad_enabled, no_grad, set_default_dtype, set_grad_enabled)
from .core.engine import backward, grad, topological_order
from .core.op import OPS, on_declare
from .core.gradcheck import gradcheck, GradcheckReport
from .core.graph import to_networkx


@on_declare
def _export(op):
    """An op declared with function=True is `al.<its name>` (al.exp, al.add, ...), wherever it is declared."""
    if op.function:
        globals()[op.name] = op


from . import ops as _ops  # noqa: E402,F401  (declares the op table and binds operators)
from .ops.functions import (amax, amin, argmax, argmin, astype, broadcast_to, cat,  # noqa: E402
                            clamp, clip, concatenate, expand, flatten, getitem, index_put,
                            log_softmax, mm, bmm, split, chunk, unbind, sort, topk,
                            logsumexp, masked_fill, matmul, max, mean, min, permute, reshape,
                            softmax, square, squeeze, stack, std, sum, swapaxes, transpose,
                            unsqueeze, var, where)
from .ops.creation import (allclose, arange, as_tensor, bool_, double, empty, eye,  # noqa: E402
                           float16, float32, float64, from_numpy, full, full_like, half, int32,
                           int64, is_tensor, linspace, long, numel, ones, ones_like, rand,
                           rand_like, randint, randn, randn_like, randperm, uint8, zeros,
                           zeros_like)

from .core.random import manual_seed  # noqa: E402
from . import nn, optim, data, train, viz, audio  # noqa: E402
from .viz import draw, explain, to_sympy  # noqa: E402
from .io import save, load, CheckpointError  # noqa: E402
from .interop import onnx  # noqa: E402  (al.onnx.export; needs the `interop` extra)
from .interop.torch import export_torch, torch_state_dict  # noqa: E402  (torch only when called)
from .kernels import set_num_threads, get_num_threads  # noqa: E402
from .kernels.memory import configure as tune_memory  # noqa: E402  (opt-in, process-wide)
from .compiler import compile, CompileWarning  # noqa: E402,A004

__version__ = "0.1.0"
