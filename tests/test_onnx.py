"""ONNX export: the classifier with its spectrogram inside hears what `predict` hears, the ONNX
mel front end is librosa's, the graph is valid with shapes on its edges; and the PyTorch bridge."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.audio import FeatureConfig
from test_audio_features import PARAMETER_SETS    # the parameter sets our own features are tested on

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SR = 8000


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "autograd_lab", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env)


def _tone(freq, seconds, sr=SR, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A CNN and an MLP trained briefly by `autograd-lab train` on a folder of tones, and probe clips
    of several lengths (shorter than, equal to and longer than the training length, and silence)."""
    root = tmp_path_factory.mktemp("onnx")
    data = root / "sounds"
    for k, (name, base) in enumerate((("low", 300), ("mid", 900), ("high", 2000))):
        os.makedirs(data / name)
        for i in range(8):
            al.audio.save(data / name / f"{i}.wav", _tone(base * (1 + 0.03 * i), 0.8, seed=10 * k + i), SR)
    env = dict(os.environ, AUTOGRAD_LAB_CACHE_DIR=str(root / "cache"))
    checkpoints = {}
    for model in ("cnn", "mlp"):
        out = root / model
        result = _cli("train", "--data", data, "--model", model, "--epochs", 2, "--out", out, "--quiet",
                      "--folds", 4, "--no-pictures", env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert sorted(os.listdir(out)) == ["metrics.json", "model.safetensors"]     # --no-pictures
        checkpoints[model] = out / "model.safetensors"
    probes = []
    for k, seconds in enumerate((0.31, 1.0, 1.37, 2.5)):
        path = root / f"probe_{seconds}s.wav"
        al.audio.save(path, _tone(500 + 600 * k, seconds, seed=99 + k) * (0.2 + 0.5 * k), SR)
        probes.append(path)
    silence = root / "silence.wav"
    al.audio.save(silence, np.zeros(4000, np.float32), SR)
    loud = root / "loud.wav"                     # loudness normalisation must limit the peak here
    loud_clip = np.zeros(8000, np.float32)
    loud_clip[4000:4010] = 0.9
    al.audio.save(loud, loud_clip, SR)
    return checkpoints, probes + [silence, loud], env


def _predict_json(checkpoint, files, env):
    result = _cli("predict", "--checkpoint", checkpoint, "--json", *files, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(f) for f in files]
    return lines


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_onnxruntime_on_raw_audio_equals_predict_json(trained, model, tmp_path):
    checkpoints, probes, env = trained
    out = tmp_path / "model.onnx"
    result = _cli("export", checkpoints[model], out, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "raw mono audio" in result.stdout
    session = ort.InferenceSession(str(out))
    classes = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}["classes"])
    lengths = set()
    for line in _predict_json(checkpoints[model], probes, env):
        y, sr = al.audio.load(line["file"])
        assert sr == SR
        lengths.add(y.size)
        (p,) = session.run(["probabilities"], {"waveform": y[None]})
        ours = np.array([line["probabilities"][c] for c in classes])
        # digital silence too: every log-mel bin is equal, and both sides centre it to exactly 0
        np.testing.assert_allclose(p[0], ours, atol=1e-4, rtol=0, err_msg=line["file"])
        assert classes[int(np.argmax(p[0]))] == line["label"]
    assert len(lengths) >= 4


def test_a_batch_of_clips_gives_each_clips_probabilities(trained, tmp_path):
    checkpoints, _, _ = trained
    classifier = al.audio.AudioClassifier.load(checkpoints["cnn"])
    al.onnx.export(classifier, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    clips = np.stack([_tone(f, 1.9, seed=k) * g for k, (f, g) in enumerate(((300, 1.0), (2000, 0.1), (900, 3.0)))])
    (p,) = session.run(None, {"waveform": clips})
    for k, (clip, row) in enumerate(zip(clips, p)):
        path = tmp_path / f"clip{k}.wav"
        al.audio.save(path, clip, SR, subtype="FLOAT")
        _, ours = classifier.predict_file(path)
        np.testing.assert_allclose(row, [ours[c] for c in classifier.classes], atol=1e-4)


def test_the_graph_is_valid_with_metadata_and_shapes_on_every_edge(trained, tmp_path):
    checkpoints, _, _ = trained
    classifier = al.audio.AudioClassifier.load(checkpoints["cnn"])
    al.onnx.export(classifier, tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    props = {p.key: p.value for p in model.metadata_props}
    assert int(props["sample_rate"]) == classifier.config.sr == SR
    assert json.loads(props["classes"]) == classifier.classes == ["high", "low", "mid"]
    assert FeatureConfig.from_dict(json.loads(props["features"])) == classifier.config
    ops = {n.op_type for n in model.graph.node}
    cfg = classifier.config
    assert ("STFT" in ops) == (cfg.n_fft & (cfg.n_fft - 1) == 0)       # else the DFT as MatMuls
    assert {"MatMul", "Log", "Conv", "BatchNormalization", "Relu", "MaxPool", "GlobalAveragePool",
            "Gemm", "Softmax"} <= ops
    assert "Dropout" not in ops
    mel = next(t for t in model.graph.initializer if t.name == "mel_filterbank")
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(mel),
                                  al.audio.mel_filters(cfg.sr, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax, cfg.htk,
                                                       cfg.norm).T)
    # every edge has a shape for Netron: each node output is typed with a shape
    shaped = {v.name for v in model.graph.value_info if v.type.tensor_type.HasField("shape")}
    shaped |= {v.name for v in model.graph.output}
    for node in model.graph.node:
        for name in node.output:
            assert name in shaped, (node.op_type, name)
    scaled = next(v for v in model.graph.value_info if v.name == "scaled_log_mel")
    dims = [d.dim_value or d.dim_param for d in scaled.type.tensor_type.shape.dim]
    assert dims[1:] == [1, cfg.n_mels, cfg.n_frames]


def test_features_input_exports_the_network_alone(trained, tmp_path):
    checkpoints, probes, env = trained
    out = tmp_path / "net.onnx"
    result = _cli("export", checkpoints["mlp"], out, "--features-input", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    model = onnx.load(str(out))
    assert [i.name for i in model.graph.input] == ["log_mel"]
    assert not {"STFT", "Log", "Gather"} & {n.op_type for n in model.graph.node}
    classifier = al.audio.AudioClassifier.load(checkpoints["mlp"])
    X = np.concatenate([classifier.config.features(*al.audio.load(p))[None] for p in probes])
    (p,) = ort.InferenceSession(str(out)).run(None, {"log_mel": X})
    np.testing.assert_allclose(p, classifier.probabilities(X), atol=1e-5)


@pytest.mark.parametrize("sr, n_fft, hop, n_mels, htk", PARAMETER_SETS)
def test_the_onnx_mel_front_end_equals_librosa(sr, n_fft, hop, n_mels, htk):
    import librosa
    from onnx import TensorProto, helper
    from autograd_lab.interop.onnx import GraphBuilder, add_front_end
    config = FeatureConfig(sr=sr, duration=1.0, n_fft=n_fft, hop_length=hop, n_mels=n_mels, htk=htk)
    g = GraphBuilder(reserved=("waveform", "features"))
    out = add_front_end(g, "waveform", config)
    g.nodes.append(helper.make_node("Identity", [out], ["features"]))
    g.nodes.append(helper.make_node("Identity", ["mel.bands_first"], ["mel_power"]))
    frames = config.n_frames
    graph = helper.make_graph(
        g.nodes, "front_end", [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, ["batch", "samples"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 1, n_mels, frames]),
         helper.make_tensor_value_info("mel_power", TensorProto.FLOAT, ["batch", n_mels, frames])],
        initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString())
    rng = np.random.default_rng(sr + n_fft)
    for seconds in (0.4, 1.0, 1.6):
        y = (0.3 * rng.standard_normal(int(sr * seconds))).astype(np.float32)
        db, power = session.run(None, {"waveform": y[None]})
        clip = config.waveform(y, sr)               # loudness and length, as the graph does them
        expected = librosa.feature.melspectrogram(y=clip, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, htk=htk)
        np.testing.assert_allclose(power[0], expected, rtol=1e-5)
        expected_db = librosa.power_to_db(expected, top_db=80.0)
        np.testing.assert_allclose(db[0, 0], expected_db, atol=1e-5 * np.abs(expected_db).max())


def test_a_plain_network_exports_layer_by_layer(tmp_path):
    nn = al.nn
    al.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
                        nn.Conv2d(4, 6, 3, stride=2), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                        nn.Linear(24, 5), nn.Sigmoid(), nn.Linear(5, 3), nn.Softmax())
    x = np.random.default_rng(0).standard_normal((2, 1, 20, 20)).astype(np.float32)
    net.train()
    net(al.tensor(x))                       # moves the batch-norm running statistics off 0 and 1
    net.eval()
    proto = al.onnx.export(net, tmp_path / "net.onnx", x)
    assert [n.op_type for n in proto.graph.node][:4] == ["Conv", "BatchNormalization", "LeakyRelu", "MaxPool"]
    batch = np.random.default_rng(1).standard_normal((5, 1, 20, 20)).astype(np.float32)
    (out,) = ort.InferenceSession(str(tmp_path / "net.onnx")).run(None, {"input": batch})
    with al.no_grad():
        np.testing.assert_allclose(out, net(al.tensor(batch)).data, atol=1e-5)


def test_an_unknown_module_is_named(tmp_path):
    class Odd(al.nn.Module):
        def forward(self, x):
            return x * 2
    net = al.nn.Sequential(al.nn.Linear(2, 2), Odd())
    with pytest.raises(al.onnx.ExportError, match=r"no ONNX form for Odd \(at model.1\)"):
        al.onnx.export(net, tmp_path / "x.onnx", np.zeros((1, 2), np.float32))
    assert not (tmp_path / "x.onnx").exists()


def test_export_needs_a_target(trained):
    checkpoints, _, env = trained
    result = _cli("export", checkpoints["cnn"], env=env)
    assert result.returncode == 2 and "give OUT.onnx, --web DIR, or both" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_the_torch_bridge_loads_our_weights(trained, model):
    torch = pytest.importorskip("torch")
    checkpoints, probes, _ = trained
    classifier = al.audio.AudioClassifier.load(checkpoints[model])
    module = al.export_torch(classifier)
    assert isinstance(module, torch.nn.Module) and not module.training
    state = module.state_dict()
    for k, v in classifier.model.state_dict().items():
        np.testing.assert_array_equal(state[k].numpy(), v)
    X = np.concatenate([classifier.config.features(*al.audio.load(p))[None] for p in probes])
    with torch.no_grad():
        theirs = module(torch.from_numpy(classifier.scale(X))).numpy()
    np.testing.assert_allclose(theirs, classifier.logits(X), atol=1e-4)       # logits() scales X itself
    # and a fresh torch module of the same shape accepts the weights with load_state_dict
    fresh = al.interop.torch.to_torch_module(classifier.model)
    fresh.load_state_dict(al.torch_state_dict(classifier.model), strict=False)


def test_cmvn_scaling_and_time_pooling_export_as_they_compute(tmp_path):
    from autograd_lab.audio.classifier import AudioClassifier, build_model
    config = FeatureConfig(sr=SR, duration=0.5, n_fft=256, hop_length=64, n_mels=24)
    network, spec = build_model("cnn", 3, config.n_mels, config.n_frames, pool="time")
    network.eval()
    classifier = AudioClassifier(network, spec, config, ["a", "b", "c"], {"mode": "cmvn"})
    out = tmp_path / "cmvn.onnx"
    al.onnx.export(classifier, out, features_input=True)
    X = np.stack([config.features(_tone(f, 0.4, seed=k), SR) for k, f in enumerate((300, 900, 2000))])
    X[0, 0, 3] = X[0, 0, 3].min()                          # one constant band: its spread is the floor alone
    (p,) = ort.InferenceSession(str(out)).run(None, {"log_mel": X})
    np.testing.assert_allclose(p, classifier.probabilities(X), atol=1e-5)


@pytest.mark.parametrize("dft", ["stft", "matmul"])
def test_floor_padding_in_the_graph_equals_features_and_clip_features(dft):
    """FeatureConfig(pad="floor"): the frames around a short clip take each band's 10th percentile
    over the clip's own frames, in the fixed window (features) and over whole clips (clip_features);
    a clip as long as the window or longer is left as it is."""
    from onnx import TensorProto, helper
    from autograd_lab.interop.onnx import GraphBuilder, add_front_end
    config = FeatureConfig(sr=SR, duration=0.5, n_fft=256, hop_length=96, n_mels=32, pad="floor")
    sessions = {}
    for whole in (False, True):
        g = GraphBuilder(reserved=("waveform", "features"))
        out = add_front_end(g, "waveform", config, dft=dft, whole_clip=whole)
        g.nodes.append(helper.make_node("Identity", [out], ["features"]))
        graph = helper.make_graph(
            g.nodes, "front_end", [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, ["batch", "samples"])],
            [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", None, None, None][:4 - whole])],
            initializer=g.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        sessions[whole] = ort.InferenceSession(model.SerializeToString())
    rng = np.random.default_rng(5)
    padded_somewhere = False
    for samples in (40, 700, 1001, 1920, 2303, 4000, 4001, 9000):      # the window holds 4000
        y = (0.01 * rng.standard_normal(samples)).astype(np.float32)
        y[samples // 3: samples // 3 + samples // 4] += 0.5 * _tone(700, samples / 4 / SR, seed=samples)[:samples // 4]
        batch = np.stack([y, 0.3 * y[::-1]])                            # one length, two clips
        (window,) = sessions[False].run(None, {"waveform": batch})
        (whole,) = sessions[True].run(None, {"waveform": batch})
        for k in range(2):
            expected = config.features(batch[k], SR)
            np.testing.assert_allclose(window[k], expected, atol=2e-4, err_msg=f"{samples} samples, clip {k}")
            np.testing.assert_allclose(whole[k], config.clip_features(batch[k], SR), atol=2e-4,
                                       err_msg=f"{samples} samples, clip {k}, whole")
        silence_padded = FeatureConfig.from_dict(dict(config.to_dict(), pad="silence")).features(y, SR)
        padded_somewhere |= not np.allclose(expected, silence_padded, atol=1e-3)
    assert padded_somewhere                     # the floor was in play, not only clips left as they were


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_a_floor_padded_classifier_exports_and_hears_what_predict_hears(model, tmp_path):
    """With pad="floor" the exported model on raw audio gives
    predict_file's probabilities for clips shorter than the window, as long, and longer."""
    from autograd_lab.audio.classifier import AudioClassifier, build_model
    config = FeatureConfig(sr=SR, duration=0.5, n_fft=256, hop_length=96, n_mels=32, pad="floor")
    al.manual_seed(3)
    network, spec = build_model(model, 3, config.n_mels, config.n_frames)
    network.eval()
    classifier = AudioClassifier(network, spec, config, ["a", "b", "c"], {"mode": "clip"})
    out = tmp_path / "floor.onnx"
    al.onnx.export(classifier, out)
    session = ort.InferenceSession(str(out))
    rng = np.random.default_rng(11)
    for k, seconds in enumerate((0.12, 0.31, 0.5, 1.37)):
        n = int(SR * seconds)
        y = (0.02 * rng.standard_normal(n)).astype(np.float32)
        y[n // 4: n // 4 + n // 3] += _tone(400 + 500 * k, n / 3 / SR, seed=k)[:n // 3]
        path = tmp_path / f"clip{k}.wav"
        al.audio.save(path, y, SR, subtype="FLOAT")
        _, ours = classifier.predict_file(path)
        (p,) = session.run(["probabilities"], {"waveform": y[None]})
        np.testing.assert_allclose(p[0], [ours[c] for c in classifier.classes], atol=1e-4, err_msg=str(seconds))
