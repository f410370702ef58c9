"""ONNX export: a network, or a whole audio classifier that takes raw sound.

`export(model, path, example_input)` writes the network as ONNX (opset 17): each
module maps to its ONNX operator (Linear -> Gemm, Conv2d -> Conv, BatchNorm ->
BatchNormalization with the running statistics, MaxPool2d -> MaxPool,
GlobalAvgPool2d -> GlobalAveragePool, ...); Dropout is dropped, as in evaluation.

Given an `AudioClassifier` (what `autograd-lab train` writes), the default graph takes
the **raw mono waveform at the model's sample rate**, shape (batch, samples), and holds
the whole front end of `FeatureConfig.features`: the loudness normalisation, the
centred pad or crop to the clip length, the STFT (ONNX's STFT operator, with our
window), the power spectrum, the mel filterbank as a constant initializer, power to
dB with the per-clip top_db floor (and, with pad="floor", a short clip's surrounding
frames set to its own per-band noise floor), and the input scaling, then the network and a
softmax: output "probabilities" (batch, classes). Any ONNX runtime then hears
exactly what our classifier hears. `features_input=True` leaves the front end out:
the input is the log-mel features (batch, 1, n_mels, frames) in dB.

The model's metadata_props hold `sample_rate`, `classes` (a JSON list) and the
feature settings (`features`, JSON). Every written model passes `onnx.checker` and
carries the inferred shape of every edge (so Netron shows them).

Resampling is not in the graph: feed samples at `sample_rate` (docs/interop.md).
"""
from __future__ import annotations

import json

import numpy as np

OPSET = 17


class ExportError(ValueError):
    """A model or a setting that cannot be exported, named in the message."""


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install 'autograd-lab[interop]'") from None
    return onnx


class GraphBuilder:
    """Nodes and initializers of one ONNX graph, with fresh names for every value."""

    def __init__(self, reserved=()):
        self.nodes, self.initializers, self.value_info = [], [], []
        self._names = {name: 1 for name in reserved}      # the graph's own inputs and outputs

    def fresh(self, base):
        k = self._names.get(base, 0)
        self._names[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def const(self, name, array, dtype=None):
        from onnx import numpy_helper
        array = np.asarray(array, dtype=dtype)
        name = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def reshape_keeping_batch(self, x, rest, name, batch_from=None):
        """Reshape x to (its batch size, *rest); the shape is built from Shape(x), so shape
        inference (with data propagation) keeps the symbolic batch dimension on the edge."""
        batch = self.op("Slice", [self.op("Shape", [batch_from or x], name=f"{name}.shape"), self.const("first", [0], np.int64),
                                  self.const("second", [1], np.int64)], name=f"{name}.batch")
        shape = self.op("Concat", [batch, self.const(f"{name}.rest", list(rest), np.int64)], name=f"{name}.target",
                        axis=0)
        return self.op("Reshape", [x, shape], name=name)

    def op(self, op_type, inputs, name=None, outputs=1, **attributes):
        from onnx import helper
        base = self.fresh(name or op_type)
        names = [base] if outputs == 1 else [f"{base}:{k}" for k in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=base, **attributes))
        return names[0] if outputs == 1 else names


# ---- the network: one converter per module type ------------------------------------------
CONVERTERS = {}


def converts(*module_types):
    """Register `fn(builder, module, x, scope) -> output name` as the ONNX form of these modules."""
    def register(fn):
        for t in module_types:
            CONVERTERS[t] = fn
        return fn
    return register


def convert_module(g, module, x, scope="model"):
    """Append `module` applied to the value named `x` to the graph; return the output's name."""
    for cls in type(module).__mro__:
        if cls in CONVERTERS:
            return CONVERTERS[cls](g, module, x, scope)
    raise ExportError(f"onnx.export: no ONNX form for {type(module).__name__} (at {scope}); "
                      f"register one with @al.onnx.converts({type(module).__name__})")


def _register_builtin():
    from .. import nn
    from ..audio.models import AudioCNN, AudioMLP, TimeAvgPool

    @converts(nn.Sequential)
    def sequential(g, m, x, scope):
        for name, child in m._modules.items():
            x = convert_module(g, child, x, f"{scope}.{name}")
        return x

    @converts(nn.Linear)
    def linear(g, m, x, scope):
        inputs = [x, g.const(f"{scope}.weight", m.weight.data)]
        if m.bias is not None:
            inputs.append(g.const(f"{scope}.bias", m.bias.data))
        return g.op("Gemm", inputs, name=scope, transB=1)

    @converts(nn.Conv2d)
    def conv2d(g, m, x, scope):
        inputs = [x, g.const(f"{scope}.weight", m.weight.data)]
        if m.bias is not None:
            inputs.append(g.const(f"{scope}.bias", m.bias.data))
        s, d = _pair(m.stride), _pair(m.dilation)
        if m.padding == "valid":
            pads = [0, 0, 0, 0]
        elif m.padding == "same":     # as PyTorch: the odd extra zero at the end
            total = [d[k] * (m.kernel_size[k] - 1) for k in range(2)]
            pads = [total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2]
        else:
            p = _pair(m.padding)
            pads = [p[0], p[1], p[0], p[1]]
        return g.op("Conv", inputs, name=scope, kernel_shape=list(m.kernel_size), strides=list(s),
                    pads=pads, dilations=list(d), group=int(getattr(m, "groups", 1)))

    @converts(nn.BatchNorm1d, nn.BatchNorm2d)
    def batch_norm(g, m, x, scope):
        n = m.num_features
        weight = m.weight.data if m.weight is not None else np.ones(n, np.float32)
        bias = m.bias.data if m.bias is not None else np.zeros(n, np.float32)
        inputs = [x] + [g.const(f"{scope}.{k}", np.asarray(v, np.float32)) for k, v in
                        (("weight", weight), ("bias", bias), ("running_mean", m.running_mean),
                         ("running_var", m.running_var))]
        return g.op("BatchNormalization", inputs, name=scope, epsilon=float(m.eps))

    @converts(nn.MaxPool2d, nn.AvgPool2d)
    def pool(g, m, x, scope):
        k = _pair(m.kernel_size)
        s = _pair(m.stride or m.kernel_size)
        p = _pair(m.padding)
        attributes = dict(kernel_shape=list(k), strides=list(s), pads=[p[0], p[1], p[0], p[1]])
        if isinstance(m, nn.AvgPool2d):
            return g.op("AveragePool", [x], name=scope, count_include_pad=1, **attributes)
        return g.op("MaxPool", [x], name=scope, **attributes)

    @converts(nn.GlobalAvgPool2d)
    def global_avg_pool(g, m, x, scope):
        return g.op("Flatten", [g.op("GlobalAveragePool", [x], name=scope)], name=f"{scope}.flatten", axis=1)

    @converts(nn.Flatten)
    def flatten(g, m, x, scope):
        return g.op("Flatten", [x], name=scope, axis=1)

    @converts(nn.Dropout)
    def dropout(g, m, x, scope):
        return x                                   # evaluation: the identity

    @converts(nn.ReLU)
    def relu(g, m, x, scope):
        return g.op("Relu", [x], name=scope)

    @converts(nn.LeakyReLU)
    def leaky_relu(g, m, x, scope):
        return g.op("LeakyRelu", [x], name=scope, alpha=float(m.negative_slope))

    @converts(nn.Tanh)
    def tanh(g, m, x, scope):
        return g.op("Tanh", [x], name=scope)

    @converts(nn.Sigmoid)
    def sigmoid(g, m, x, scope):
        return g.op("Sigmoid", [x], name=scope)

    @converts(nn.Softmax)
    def softmax(g, m, x, scope):
        return g.op("Softmax", [x], name=scope, axis=int(m.axis))

    @converts(AudioCNN)
    def audio_cnn(g, m, x, scope):
        x = convert_module(g, m.features, x, f"{scope}.features")
        x = convert_module(g, m.pool, x, f"{scope}.pool")
        return convert_module(g, m.head, x, f"{scope}.head")

    @converts(TimeAvgPool)
    def time_avg_pool(g, m, x, scope):
        return g.op("Flatten", [g.op("ReduceMean", [x], name=scope, axes=[3], keepdims=0)],
                    name=f"{scope}.flatten", axis=1)

    @converts(AudioMLP)
    def audio_mlp(g, m, x, scope):
        # AudioMLP.forward: frames averaged into `segments` stretches of `width` frames
        frames = g.input_shape[-1]
        if not isinstance(frames, int):
            raise ExportError("onnx.export: AudioMLP needs a fixed number of frames in the example input")
        width = frames // m.segments
        x = g.op("Slice", [x, g.const("mlp.start", [0], np.int64), g.const("mlp.stop", [width * m.segments], np.int64),
                           g.const("mlp.axis", [3], np.int64)], name=f"{scope}.whole_stretches")
        x = g.reshape_keeping_batch(x, [m.n_mels, m.segments, width], name=f"{scope}.stretches")
        x = g.op("ReduceMean", [x], name=f"{scope}.average_each_stretch", axes=[3], keepdims=0)
        x = g.reshape_keeping_batch(x, [m.n_mels * m.segments], name=f"{scope}.flatten")
        return convert_module(g, m.net, x, f"{scope}.net")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---- the log-mel front end ------------------------------------------------------------------
def add_front_end(g, waveform, config, dft=None, whole_clip=False):
    """The log-mel front end of `config` on a batch of clips (batch, samples) at config.sr.

    whole_clip=False is FeatureConfig.features: the clip padded or cropped to the
    training length, giving (batch, 1, n_mels, n_frames). whole_clip=True is
    FeatureConfig.clip_features: the whole clip (padded when shorter), giving
    (batch, n_mels, frames) with as many frames as the clip holds.

    dft "stft" uses ONNX's STFT operator; "matmul" frames the clip with Gather and
    multiplies by windowed cosine and sine matrices. By default STFT when n_fft is a
    power of two; otherwise onnxruntime's STFT strays up to 3e-4 (relative) from
    numpy's FFT on the mel power, where the matmuls stay within 1e-6.
    """
    if getattr(config, "front_end", "mel") != "mel":
        raise ExportError(f"onnx.export: the {config.front_end!r} front end has no ONNX version (only log-mel "
                          "has); export the network on features instead (features_input=True, "
                          "`autograd-lab export --features-input`)")
    if dft is None:
        dft = "stft" if config.n_fft & (config.n_fft - 1) == 0 else "matmul"
    from ..audio.features import get_window, mel_filters
    size, n_fft, hop = config.n_samples, config.n_fft, config.hop_length
    i64 = np.int64

    # normalize_loudness: RMS (in float64, as numpy computes it) to loudness_db, peak limited to 1
    y64 = g.op("Cast", [waveform], name="loudness.float64", to=11)
    n64 = g.op("Cast", [g.op("Gather", [g.op("Shape", [waveform], name="loudness.shape"),
                                        g.const("loudness.axis", 1, i64)], name="loudness.n")], name="loudness.n64", to=11)
    square_sum = g.op("ReduceSum", [g.op("Mul", [y64, y64], name="loudness.square"), g.const("loudness.axes", [1], i64)],
                      name="loudness.sum_of_squares", keepdims=1)
    rms = g.op("Sqrt", [g.op("Div", [square_sum, n64], name="loudness.mean_square")], name="loudness.rms")
    target = 10.0 ** (config.loudness_db / 20.0)
    gain = g.op("Cast", [g.op("Div", [g.const("loudness.target", target, np.float64), rms], name="loudness.gain64")],
                name="loudness.gain", to=1)
    scaled = g.op("Mul", [waveform, gain], name="loudness.scaled")
    peak = g.op("ReduceMax", [g.op("Abs", [scaled], name="loudness.abs")], name="loudness.peak", axes=[1], keepdims=1)
    one = g.const("one", 1.0, np.float32)
    limited = g.op("Where", [g.op("Greater", [peak, one], name="loudness.over_one"),
                             g.op("Div", [scaled, peak], name="loudness.divide_by_peak"), scaled],
                   name="loudness.limited")
    silent = g.op("Less", [rms, g.const("loudness.eps", 1e-8, np.float64)], name="loudness.silent")
    y = g.op("Where", [silent, waveform, limited], name="loudness")

    # fix_length(mode="center"): pad a short clip on both sides (and keep the middle of a long one)
    n = g.op("Gather", [g.op("Shape", [y], name="length.shape"), g.const("axis1", 1, i64)], name="length.n")
    size_c, zero, two = g.const("length.size", size, i64), g.const("zero_i64", 0, i64), g.const("two_i64", 2, i64)
    missing = g.op("Max", [g.op("Sub", [size_c, n], name="length.short_by"), zero], name="length.missing")
    before = g.op("Div", [missing, two], name="length.pad_before")
    after = g.op("Sub", [missing, before], name="length.pad_after")
    pads = g.op("Concat", [g.const("length.no_pad", [0], i64), g.op("Unsqueeze", [before, g.const("axes0", [0], i64)]),
                           g.const("length.no_pad_end", [0], i64), g.op("Unsqueeze", [after, g.const("axes0b", [0], i64)])],
                name="length.pads", axis=0)
    clip = g.op("Pad", [y, pads], name="length.pad")
    if not whole_clip:
        extra = g.op("Max", [g.op("Sub", [n, size_c], name="length.long_by"), zero], name="length.extra")
        start = g.op("Unsqueeze", [g.op("Div", [extra, two], name="length.crop_start"), g.const("axes0c", [0], i64)])
        stop = g.op("Add", [start, g.const("length.size_1d", [size], i64)], name="length.crop_stop")
        clip = g.op("Slice", [clip, start, stop, g.const("length.axes", [1], i64)], name="length.crop")
    clip = g.reshape_keeping_batch(clip, [size] if not whole_clip else [-1], name="clip", batch_from=waveform)

    # STFT, centred: n_fft // 2 zeros on each side, frames every hop samples, the window of stft()
    half = n_fft // 2
    centred = g.op("Pad", [clip, g.const("stft.pads", [0, half, 0, half], i64)], name="stft.centre")
    window = get_window("hann", n_fft)
    n_frames = 1 + (size + 2 * half - n_fft) // hop if not whole_clip else -1
    if dft == "stft":
        signal = g.op("Unsqueeze", [centred, g.const("stft.axes", [2], i64)], name="stft.signal")
        spectrum = g.op("STFT", [signal, g.const("stft.hop", hop, i64), g.const("stft.window", window.astype(np.float32)),
                                 g.const("stft.n_fft", n_fft, i64)], name="stft", onesided=1)
        # STFT's shape inference forgets the batch's name (and, for a clip of any length, the whole
        # shape): its shape is declared, and this reshape (a no-op) carries the names on
        from onnx import TensorProto, helper
        g.value_info.append(helper.make_tensor_value_info(
            spectrum, TensorProto.FLOAT, ["batch", n_frames if n_frames > 0 else "frames", half + 1, 2]))
        spectrum = g.reshape_keeping_batch(spectrum, [n_frames, half + 1, 2], name="stft.spectrum",
                                           batch_from=waveform)
        power = g.op("ReduceSumSquare", [spectrum], name="power_spectrum", axes=[3], keepdims=0)   # (b, frames, bins)
    else:
        if whole_clip:      # frame starts 0, hop, 2 hop, ... as many as fit in the centred clip
            length = g.op("Gather", [g.op("Shape", [centred], name="stft.shape"), g.const("axis1b", 1, i64)],
                          name="stft.length")
            count = g.op("Add", [g.op("Div", [g.op("Sub", [length, g.const("stft.n_fft_i", n_fft, i64)],
                                                  name="stft.room"), g.const("stft.hop_i", hop, i64)],
                                      name="stft.more_frames"), g.const("one_i64", 1, i64)], name="stft.n_frames")
            starts = g.op("Mul", [g.op("Range", [zero, count, g.const("one_i64b", 1, i64)], name="stft.frame_numbers"),
                                  g.const("stft.hop_i2", hop, i64)], name="stft.frame_starts")
            index = g.op("Add", [g.op("Unsqueeze", [starts, g.const("axes1", [1], i64)], name="stft.starts_column"),
                                 g.const("stft.offsets", np.arange(n_fft)[None, :], i64)], name="stft.frame_index")
        else:
            index = g.const("stft.frame_index", np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :], i64)
        frames = g.op("Gather", [centred, index], name="stft.frames", axis=1)
        angle = 2 * np.pi * np.outer(np.arange(n_fft), np.arange(half + 1)) / n_fft
        real = g.op("MatMul", [frames, g.const("stft.cos", (window[:, None] * np.cos(angle)).astype(np.float32))],
                    name="stft.real")
        imag = g.op("MatMul", [frames, g.const("stft.sin", (window[:, None] * -np.sin(angle)).astype(np.float32))],
                    name="stft.imag")
        power = g.op("Add", [g.op("Mul", [real, real], name="stft.real_squared"),
                             g.op("Mul", [imag, imag], name="stft.imag_squared")], name="power_spectrum")
    basis = mel_filters(config.sr, n_fft, config.n_mels, config.fmin, config.fmax, config.htk, config.norm)
    mel = g.op("MatMul", [power, g.const("mel_filterbank", basis.T.copy())], name="mel")
    mel = g.op("Transpose", [mel], name="mel.bands_first", perm=[0, 2, 1])      # (b, n_mels, frames)

    # power_to_db(ref=1.0, amin=1e-10, top_db): 10 log10(max(S, amin)), floored at max - top_db per clip
    db = g.op("Mul", [g.op("Log", [g.op("Max", [mel, g.const("db.amin", 1e-10, np.float32)], name="db.floor")],
                           name="db.ln"),
              g.const("db.ten_over_ln10", 10.0 / np.log(10.0), np.float32)], name="db")
    if config.top_db is not None:
        loudest = g.op("ReduceMax", [db], name="db.loudest", axes=[1, 2], keepdims=1)
        db = g.op("Max", [db, g.op("Sub", [loudest, g.const("db.top_db", config.top_db, np.float32)],
                                   name="db.quietest_kept")], name="db.top_db_floor")
    if getattr(config, "pad", "silence") == "floor":
        db = _pad_with_the_floor(g, db, n, before, size, hop)
    if whole_clip:
        return db
    return g.op("Unsqueeze", [db, g.const("features.channel", [1], i64)], name="log_mel")


def _pad_with_the_floor(g, db, n, before, size, hop):
    """FeatureConfig(pad="floor"): in a clip shorter than `size` samples (centred, `before` zeros
    ahead of its n samples), the frames whose centre lies outside the recording take each band's
    10th percentile over the frames inside (numpy's linear interpolation). The batch shares one
    length, so one mask serves every clip."""
    i64, f32 = np.int64, np.float32
    frames = g.op("Gather", [g.op("Shape", [db], name="floor.shape"), g.const("floor.axis2", 2, i64)],
                  name="floor.n_frames")
    centres = g.op("Mul", [g.op("Range", [g.const("floor.zero", 0, i64), frames, g.const("floor.one", 1, i64)],
                                name="floor.frame_numbers"), g.const("floor.hop", hop, i64)], name="floor.centres")
    inside = g.op("And", [g.op("Not", [g.op("Less", [centres, before], name="floor.before_start")],
                               name="floor.after_start"),
                          g.op("Less", [centres, g.op("Add", [before, n], name="floor.end")], name="floor.before_end")],
                  name="floor.inside")                                        # (frames,)
    count = g.op("ReduceSum", [g.op("Cast", [inside], name="floor.inside_i64", to=7)], name="floor.count",
                 keepdims=0)
    # the inside frames sorted per band, the outside ones pushed past them as +inf
    masked = g.op("Where", [inside, db, g.const("floor.inf", np.inf, f32)], name="floor.masked")
    ordered = g.op("TopK", [masked, g.op("Unsqueeze", [frames, g.const("floor.axes0", [0], i64)],
                                         name="floor.k")], name="floor.sorted", outputs=2, axis=-1, largest=0)[0]
    last = g.op("Max", [g.op("Sub", [count, g.const("floor.one_b", 1, i64)], name="floor.last_inside"),
                        g.const("floor.zero_b", 0, i64)], name="floor.last")
    position = g.op("Mul", [g.op("Cast", [last], name="floor.last_f64", to=11), g.const("floor.q", 0.1, np.float64)],
                    name="floor.position")                                    # as numpy: in float64
    low = g.op("Cast", [g.op("Floor", [position], name="floor.low_f64")], name="floor.low", to=7)
    high = g.op("Min", [g.op("Add", [low, g.const("floor.one_c", 1, i64)], name="floor.next"), last], name="floor.high")
    t = g.op("Cast", [g.op("Sub", [position, g.op("Cast", [low], name="floor.low_back", to=11)],
                           name="floor.fraction64")], name="floor.fraction", to=1)
    a = g.op("Gather", [ordered, g.op("Unsqueeze", [low, g.const("floor.axes0b", [0], i64)], name="floor.low_1d")],
             name="floor.a", axis=2)                                          # (batch, n_mels, 1)
    b = g.op("Gather", [ordered, g.op("Unsqueeze", [high, g.const("floor.axes0c", [0], i64)], name="floor.high_1d")],
             name="floor.b", axis=2)
    diff = g.op("Sub", [b, a], name="floor.b_minus_a")
    # numpy's _lerp: a + (b - a) t, and b - (b - a)(1 - t) from t = 0.5 on
    lerp = g.op("Where", [g.op("GreaterOrEqual", [t, g.const("floor.half", 0.5, f32)], name="floor.upper_half"),
                          g.op("Sub", [b, g.op("Mul", [diff, g.op("Sub", [g.const("floor.one_f", 1.0, f32), t],
                                                                  name="floor.one_minus_t")], name="floor.back")],
                               name="floor.from_b"),
                          g.op("Add", [a, g.op("Mul", [diff, t], name="floor.forward")], name="floor.from_a")],
                 name="floor.percentile10")
    padded = g.op("And", [g.op("Not", [inside], name="floor.outside"),
                          g.op("And", [g.op("Less", [n, g.const("floor.size", size, i64)], name="floor.short"),
                                       g.op("Greater", [count, g.const("floor.zero_c", 0, i64)], name="floor.any")],
                               name="floor.applies")], name="floor.padding")
    return g.op("Where", [padded, lerp, db], name="db.floor_padded")


def add_windows(g, db, n_mels, n_frames, silence_db=None):
    """Windows of `n_frames` frames over whole clips' log-mel (batch, n_mels, frames), as
    Clips.window_starts takes them (every half window, the last one ending at the clip's
    end) -> (windows (batch * W, 1, n_mels, n_frames), weights (batch, W)).

    A weight is 0 for a window that does not count: the repeat of the last window when
    the regular ones already end at the clip's end, and, with `silence_db`, a window whose
    loudest bin is more than silence_db below the loudest window's.
    """
    i64 = np.int64
    hop = max(n_frames // 2, 1)
    total = g.op("Gather", [g.op("Shape", [db], name="windows.shape"), g.const("axis2", 2, i64)],
                 name="windows.total_frames")
    w = g.const("windows.length", n_frames, i64)
    last_start = g.op("Sub", [total, w], name="windows.last_start")         # >= 0: short clips were padded
    regular = g.op("Range", [g.const("windows.zero", 0, i64),
                             g.op("Add", [last_start, g.const("windows.one", 1, i64)], name="windows.limit"),
                             g.const("windows.hop", hop, i64)], name="windows.regular_starts")
    starts = g.op("Concat", [regular, g.op("Unsqueeze", [last_start, g.const("windows.axes0", [0], i64)])],
                  name="windows.starts", axis=0)
    # the appended last window counts only if the regular ones stop short of the clip's end
    last_regular = g.op("Mul", [g.op("Div", [last_start, g.const("windows.hop2", hop, i64)], name="windows.n_hops"),
                                g.const("windows.hop3", hop, i64)], name="windows.last_regular")
    appended_counts = g.op("Cast", [g.op("Less", [last_regular, last_start], name="windows.needs_last")],
                           name="windows.last_weight", to=1)
    ones = g.op("Cast", [g.op("GreaterOrEqual", [regular, g.const("windows.zero2", 0, i64)],
                              name="windows.regular_true")], name="windows.regular_weight", to=1)
    weights = g.op("Concat", [ones, g.op("Unsqueeze", [appended_counts, g.const("windows.axes0b", [0], i64)])],
                   name="windows.counted", axis=0)                                      # (W,)
    index = g.op("Add", [g.op("Unsqueeze", [starts, g.const("windows.axes1", [1], i64)], name="windows.starts_column"),
                         g.const("windows.offsets", np.arange(n_frames)[None, :], i64)], name="windows.index")
    windows = g.op("Gather", [db, index], name="windows.gather", axis=2)           # (b, n_mels, W, n_frames)
    windows = g.op("Transpose", [windows], name="windows", perm=[0, 2, 1, 3])      # (b, W, n_mels, n_frames)
    weights = g.op("Unsqueeze", [weights, g.const("windows.axes0c", [0], i64)], name="windows.weights")   # (1, W)
    if silence_db is not None:
        peaks = g.op("ReduceMax", [windows], axes=[2, 3], keepdims=0, name="windows.peaks")
        loudest = g.op("ReduceMax", [peaks], axes=[1], keepdims=1, name="windows.loudest")
        heard = g.op("GreaterOrEqual", [peaks, g.op("Sub", [loudest, g.const("windows.silence_db", silence_db,
                                                                               np.float32)],
                                                    name="windows.silence_below")], name="windows.heard")
        weights = g.op("Mul", [weights, g.op("Cast", [heard], name="windows.heard_weight", to=1)],
                       name="windows.voting")
    flat = g.op("Reshape", [windows, g.const("windows.flat_shape", [-1, 1, n_mels, n_frames], i64)],
                name="windows.batch_of_windows")
    return flat, weights


def add_normalization(g, x, normalization, n_mels, n_frames):
    """The input scaling of prepare.normalize_input on (..., n_mels, frames): "global"
    (x - mean) / std; "clip" or "band" (each window, or each band of it, minus its mean
    over time, divided by the window's remaining RMS spread + 1e-3); "cmvn" (each band
    minus its mean, over its own RMS spread + CMVN_FLOOR_DB)."""
    from ..audio.prepare import CMVN_FLOOR_DB
    mode = normalization.get("mode", "global")
    if mode == "global":
        return g.op("Div", [g.op("Sub", [x, g.const("scaling.mean", normalization.get("mean", 0.0), np.float32)],
                                 name="scaling.centre"),
                            g.const("scaling.std", normalization.get("std", 1.0), np.float32)], name="scaled_log_mel")
    if mode not in ("clip", "band", "cmvn"):
        raise ExportError(f"onnx.export: no ONNX form for the input normalisation {mode!r}")
    axes = [-2, -1] if mode == "clip" else [-1]
    def mean(v, axes, name):
        count = n_frames if axes == [-1] else n_mels * n_frames
        total = g.op("ReduceSum", [v, g.const(f"{name}.axes", axes, np.int64)], keepdims=1, name=f"{name}.sum")
        return g.op("Div", [total, g.const(f"{name}.count", count, np.float32)], name=name)
    # the mean taken around the first bin (shifted data): the same mean, but a window of constant
    # bins (digital silence) centres to exactly 0, as numpy's pairwise sum gives; a rounding
    # difference there would be divided by the 1e-3 floor below and change the answer
    first = g.op("Slice", [x, g.const("scaling.first_start", [0] * len(axes), np.int64),
                           g.const("scaling.first_stop", [1] * len(axes), np.int64),
                           g.const("scaling.first_axes", axes, np.int64)], name="scaling.first_bin")
    shifted = g.op("Sub", [x, first], name="scaling.shifted")
    centred = g.op("Sub", [shifted, mean(shifted, axes, f"scaling.{mode}_mean")], name="scaling.centred")
    # "cmvn": each band's own spread plus CMVN_FLOOR_DB; else the window's spread plus 1e-3
    spread_axes, floor = ([-1], CMVN_FLOOR_DB) if mode == "cmvn" else ([-2, -1], 1e-3)
    spread = g.op("Add", [g.op("Sqrt", [mean(g.op("Mul", [centred, centred], name="scaling.square"), spread_axes,
                                             "scaling.mean_square")], name="scaling.rms"),
                          g.const("scaling.floor", floor, np.float32)], name="scaling.spread")
    return g.op("Div", [centred, spread], name="scaled_log_mel")


# ---- export ---------------------------------------------------------------------------------
def export(model, path, example_input=None, features=None, features_input=False, opset=OPSET):
    """Write `model` as an ONNX file at `path`; returns the onnx.ModelProto.

    `model` is a network (an nn.Module: input "input" shaped like `example_input`,
    whose first axis becomes the batch; output "output") or an `AudioClassifier`
    (input "waveform" (batch, samples) at the model's sample rate, output
    "probabilities"; with features_input=True the input is "log_mel" (batch, 1,
    n_mels, frames)). `features` (a FeatureConfig) puts the log-mel front end before
    a plain network.

    >>> import autograd_lab as al, numpy as np, os, tempfile
    >>> net = al.nn.Sequential(al.nn.Linear(4, 8), al.nn.ReLU(), al.nn.Linear(8, 2))
    >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
    >>> proto = al.onnx.export(net, path, np.zeros((1, 4), np.float32))
    >>> [n.op_type for n in proto.graph.node]
    ['Gemm', 'Relu', 'Gemm']
    """
    refusal = getattr(model, "onnx_refusal", None)   # e.g. the descriptor model's numpy front end
    if refusal:
        raise ExportError(refusal)
    onnx = _onnx()
    from onnx import TensorProto, helper
    from ..audio.classifier import AudioClassifier
    if not CONVERTERS:
        _register_builtin()
    classifier = model if isinstance(model, AudioClassifier) else None
    network = classifier.model if classifier else model
    g = GraphBuilder(reserved=("waveform", "log_mel", "input", "output", "probabilities"))
    metadata = {"producer": "autograd_lab"}
    if classifier is not None:
        config = classifier.config if features is None else features
        metadata.update(sample_rate=str(config.sr), classes=json.dumps(classifier.classes),
                        features=json.dumps(config.to_dict()))
        frames_shape = (1, config.n_bands, config.n_frames)
        normalization = getattr(classifier, "normalization", None) or \
            {"mode": "global", "mean": classifier.mean, "std": classifier.std}
        # whole clips judged on all their windows (AudioClassifier.clip_probabilities), when the classifier does
        windowed = hasattr(classifier, "clip_probabilities") and not features_input
        weights = None
        if features_input:
            input_name, input_shape = "log_mel", ["batch", *frames_shape]
            x = input_name
        elif windowed:
            from ..audio import classifier as classifier_module
            input_name, input_shape = "waveform", ["batch", "samples"]
            db = add_front_end(g, input_name, config, whole_clip=True)
            x, weights = add_windows(g, db, config.n_mels, config.n_frames,
                                     getattr(classifier_module, "SILENCE_DB", None))
        else:
            input_name, input_shape = "waveform", ["batch", "samples"]
            x = add_front_end(g, input_name, config)
        x = add_normalization(g, x, normalization, config.n_mels, config.n_frames)
        g.input_shape = ["batch", *frames_shape]
        logits = convert_module(g, network, x)
        output = g.op("Softmax", [logits], name="window_probabilities" if windowed else "softmax", axis=1)
        if windowed:       # the mean over each clip's counted windows
            per_clip = g.reshape_keeping_batch(output, [-1, len(classifier.classes)], name="probabilities_per_window",
                                               batch_from=input_name)
            w = g.op("Unsqueeze", [weights, g.const("vote.axes", [2], np.int64)], name="vote.weights")
            total = g.op("ReduceSum", [g.op("Mul", [per_clip, w], name="vote.weighted"),
                                       g.const("vote.axis", [1], np.int64)], name="vote.sum", keepdims=0)
            count = g.op("ReduceSum", [w, g.const("vote.axis2", [1], np.int64)], name="vote.count", keepdims=0)
            output = g.op("Div", [total, count], name="vote.mean")
        output_shape = ["batch", len(classifier.classes)]
    else:
        if example_input is None:
            raise ExportError("onnx.export: a plain network needs example_input (one batch of inputs)")
        example = np.asarray(getattr(example_input, "data", example_input))
        if features is not None:
            input_name, g.input_shape = "waveform", ["batch", "samples"]
            x = add_front_end(g, input_name, features)
            g.input_shape = ["batch", 1, features.n_mels, features.n_frames]
            input_shape = ["batch", "samples"]
            metadata.update(sample_rate=str(features.sr), features=json.dumps(features.to_dict()))
        else:
            input_name, x = "input", "input"
            input_shape = ["batch", *example.shape[1:]]
            g.input_shape = input_shape
        output = convert_module(g, network, x)
        output_shape = ["batch", *_output_shape(network, example, features)[1:]]
    # the graph's output gets a stable name: the last node's output is renamed (an Identity only when
    # the network computes nothing, e.g. a lone Dropout)
    final = "probabilities" if classifier else "output"
    producer = next((n for n in g.nodes if output in n.output), None)
    if producer is not None and output not in {i for n in g.nodes for i in n.input}:
        producer.output[list(producer.output).index(output)] = final
    else:
        g.nodes.append(helper.make_node("Identity", [output], [final], name="output"))
    graph = helper.make_graph(
        g.nodes, "autograd_lab", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("probabilities" if classifier else "output", TensorProto.FLOAT,
                                       output_shape)],
        initializer=g.initializers, value_info=g.value_info)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="autograd_lab", doc_string=_describe(classifier, input_name))
    # the ONNX IR version every current runtime (onnxruntime, onnxruntime-web) reads
    proto.ir_version = 8
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True, data_prop=True)
    onnx.save(proto, str(path))
    return proto


def _output_shape(network, example, features):
    from ..core.node import Tensor
    from ..core.state import no_grad
    if features is not None:
        example = np.zeros((1, 1, features.n_mels, features.n_frames), np.float32)
    was_training = network.training
    network.eval()
    try:
        with no_grad():
            return network(Tensor(example[:1])).shape
    finally:
        network.train(was_training)


def _describe(classifier, input_name):
    if classifier is None:
        return "exported by autograd_lab"
    if input_name == "waveform":
        return (f"{type(classifier.model).__name__} audio classifier: input waveform (batch, samples), mono, "
                f"at {classifier.config.sr} Hz; output class probabilities; classes and settings in metadata_props")
    return (f"{type(classifier.model).__name__} audio classifier: input log-mel features in dB "
            f"(batch, 1, n_mels, frames); output class probabilities")
