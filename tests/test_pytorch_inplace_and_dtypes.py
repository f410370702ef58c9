"""More PyTorch habits: `t[index] = value`, `model.to(dtype)` / `.double()` / `.float()`, and
PyTorch's `F.batch_norm(input, running_mean, running_var, ...)`. Where torch is installed, the
same calls run on torch and the numbers are compared; the rest asserts values directly.
"""
import numpy as np
import pytest

import autograd_lab as al
import autograd_lab.nn.functional as F
from autograd_lab.core.errors import ShapeError

try:
    import torch
except ImportError:          # the torch comparisons skip; the value checks still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


# ---- t[index] = value -----------------------------------------------------------------------
def _fill_both(lib, x):
    """The same writes on an (4, 3) tensor of either library."""
    x[0] = 5.0                                     # a number into a row
    x[1, 2] = -1.0                                 # one element
    x[:, 1] = lib.tensor(np.array([1.0, 2.0, 3.0, 4.0]))     # a Tensor into a column
    x[x > 4] = 0.5                                 # a boolean mask from the tensor itself
    x[2:] = lib.tensor(np.array([[7.0, 8.0, 9.0]]))           # broadcast a (1, 3) row into two
    x[np.array([3, 0])] = 1.5                      # an integer array index
    return x


def test_setitem_writes_numbers_arrays_tensors_masks_and_slices():
    x = _fill_both(al, al.zeros(4, 3, dtype=np.float64))
    np.testing.assert_array_equal(x.data, [[1.5, 1.5, 1.5], [0.0, 2.0, -1.0],
                                           [7.0, 8.0, 9.0], [1.5, 1.5, 1.5]])
    assert x.dtype == np.float64 and x.is_leaf


@needs_torch
def test_setitem_gives_the_same_tensor_as_torch():
    ours = _fill_both(al, al.zeros(4, 3, dtype=np.float64))
    theirs = _fill_both(torch, torch.zeros(4, 3, dtype=torch.float64))
    np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_setitem_casts_to_the_tensors_dtype_as_torch_does():
    t = al.zeros(3, dtype=np.int64)
    t[0] = 2.7                       # truncated, the dtype stays int64 (torch: tensor([2, 0, 0]))
    t[1:] = al.tensor([-1.9, 4.2])
    np.testing.assert_array_equal(t.data, [2, -1, 4])
    assert t.dtype == np.int64


def test_setitem_initialises_a_parameter_under_no_grad_and_training_then_uses_it():
    layer = al.nn.Linear(3, 2)
    with al.no_grad():
        layer.weight[:] = 0.0
        layer.weight[0, 1] = 2.0
        layer.bias[layer.bias.data < 10] = 1.0
    assert layer.weight.is_leaf and layer.weight.requires_grad
    out = layer(al.tensor([[1.0, 3.0, 5.0]]))
    np.testing.assert_allclose(out.data, [[7.0, 1.0]])
    out.sum().backward()
    np.testing.assert_allclose(layer.weight.grad, [[1, 3, 5], [1, 3, 5]])


def test_setitem_on_a_leaf_that_requires_grad_while_recording_names_the_fix():
    w = al.zeros(2, 5, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"leaf tensor of shape \(2, 5\) that requires grad is being "
                                           r"used in an in-place operation.*al\.no_grad\(\)"):
        w[0] = 1.0
    np.testing.assert_array_equal(w.data, np.zeros((2, 5)))     # nothing was written


def test_setitem_on_a_recorded_node_is_refused_and_index_put_records_it():
    a = al.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = a * 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\) computed by mul.*index_put"):
        y[0] = 7.0
    np.testing.assert_array_equal(y.data, [2.0, 4.0, 6.0])
    v = al.tensor(7.0, requires_grad=True)
    z = y.index_put(0, v)
    (z * al.tensor([10.0, 1.0, 1.0])).sum().backward()
    np.testing.assert_array_equal(z.data, [7.0, 4.0, 6.0])
    np.testing.assert_array_equal(a.grad, [0.0, 2.0, 2.0])     # torch gives the same for y[0] = 7
    assert v.grad == pytest.approx(10.0)


def test_setitem_of_a_value_that_requires_grad_points_to_index_put():
    buf = al.zeros(3)
    w = al.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad.*index_put"):
        buf[0] = w * 2
    with al.no_grad():
        buf[0] = w * 2
    np.testing.assert_array_equal(buf.data, [2.0, 0.0, 0.0])


def test_setitem_with_a_bad_index_or_value_names_the_shapes():
    x = al.zeros(2, 3)
    with pytest.raises(IndexError, match=r"index 5 does not fit a tensor of shape \(2, 3\)"):
        x[5] = 1.0
    with pytest.raises(IndexError, match=r"bool array.*shape \(2, 3\)"):
        x[np.ones(7, bool)] = 1.0
    with pytest.raises(ShapeError, match=r"value of shape \(4,\) into x\[index\] of shape \(3,\)"):
        x[0] = al.ones(4)
    with pytest.raises(ShapeError, match=r"index_put: .*shape \(4,\)"):
        x.index_put(0, np.ones(4))
    np.testing.assert_array_equal(x.data, np.zeros((2, 3)))


# ---- Module.to / .double() / .float() -------------------------------------------------------
def _bn_model(lib):
    return lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3), lib.nn.Linear(3, 1))


def test_module_double_converts_floats_in_place_and_keeps_integer_buffers():
    model = _bn_model(al)
    params = model.parameters()
    model.train()
    model(al.randn(4, 2))                         # counts one batch
    assert model.double() is model
    assert [p is q for p, q in zip(params, model.parameters())] == [True] * 6
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    bn = model[1]
    assert bn.running_mean.dtype == bn.running_var.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64 and int(bn.num_batches_tracked) == 1
    assert model.float() is model and model[0].weight.dtype == np.float32
    for spelling in (al.float64, np.float64, "float64", "double", "torch.float64", "cpu"):
        model.float()
        assert model.to(spelling) is model
        assert model[2].bias.dtype == (np.float32 if spelling == "cpu" else np.float64), spelling
    assert model.to("cpu", al.float32)[0].weight.dtype == np.float32
    assert model.to(dtype=al.float64)[0].weight.dtype == np.float64
    assert model.to(al.zeros(1, dtype=np.float32))[0].weight.dtype == np.float32   # to(other tensor)
    assert model.cpu() is model
    with pytest.raises(RuntimeError, match="CPU only"):
        model.to("cuda")
    with pytest.raises(TypeError, match="floating dtypes"):
        model.to(al.int64)


def test_tensor_to_accepts_torchs_call_forms():
    x = al.tensor([1.5, 2.5])
    assert x.to("float64").dtype == np.float64
    assert x.to("cpu") is x
    assert x.to("cpu", "double").dtype == np.float64
    assert x.to(dtype="long").data.tolist() == [1, 2]
    assert x.to(al.zeros(1, dtype=np.float64)).dtype == np.float64
    assert x.double().dtype == np.float64 and x.double().float().dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU only"):
        x.to("cuda:0")


@needs_torch
def test_optimizer_built_before_double_keeps_training_the_converted_parameters_as_torch():
    torch.manual_seed(0)
    theirs = _bn_model(torch)
    ours = _bn_model(al)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    opt_ours = al.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(6, 2)), rng.normal(size=(6, 1))) for _ in range(3)]

    def step(model, opt, lib, xb, yb, dtype):
        opt.zero_grad()
        loss = ((model(lib.tensor(xb.astype(dtype))) - lib.tensor(yb.astype(dtype))) ** 2).mean()
        loss.backward()
        opt.step()

    step(ours, opt_ours, al, *batches[0], np.float32)
    step(theirs, opt_theirs, torch, *batches[0], np.float32)
    ours.double()
    theirs.double()
    for xb, yb in batches[1:]:
        step(ours, opt_ours, al, xb, yb, np.float64)
        step(theirs, opt_theirs, torch, xb, yb, np.float64)
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert sorted(mine) == sorted(ref)
    for key in mine:
        assert mine[key].dtype == ref[key].numpy().dtype, key
        np.testing.assert_allclose(mine[key], ref[key].numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    assert int(mine["1.num_batches_tracked"]) == 3


# ---- F.batch_norm with PyTorch's signature ------------------------------------------------
def test_batch_norm_updates_running_statistics_in_place_with_the_unbiased_variance():
    x = np.arange(12.0).reshape(4, 3)             # per channel: mean 4.5 + c, unbiased var 15
    running_mean, running_var = np.zeros(3), np.ones(3)
    out = F.batch_norm(al.tensor(x), running_mean, running_var, training=True, momentum=0.5)
    np.testing.assert_allclose(running_mean, [2.25, 2.75, 3.25])
    np.testing.assert_allclose(running_var, [8.0, 8.0, 8.0])    # 0.5 * 1 + 0.5 * 15
    np.testing.assert_allclose(out.data[:, 0], (x[:, 0] - 4.5) / np.sqrt(11.25 + 1e-5))
    stats = al.tensor(np.zeros(3)), al.tensor(np.ones(3))      # Tensors are updated in place too
    F.batch_norm(al.tensor(x), *stats, training=True)
    np.testing.assert_allclose(stats[0].data, [0.45, 0.55, 0.65])
    np.testing.assert_allclose(stats[1].data, [2.4, 2.4, 2.4])
    evaluated = F.batch_norm(al.tensor(x), running_mean, running_var)    # training=False: running
    np.testing.assert_allclose(evaluated.data, (x - running_mean) / np.sqrt(running_var + 1e-5))


def test_batch_norm_without_running_statistics_and_its_errors():
    x = al.tensor(np.arange(8.0).reshape(4, 2))
    out = F.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(out.data.mean(axis=0), [0.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="required when not training"):
        F.batch_norm(x, None, None)
    bn = al.nn.BatchNorm1d(2)
    with pytest.raises(TypeError, match=r"F.batch_norm\(x, bn.running_mean, bn.running_var"):
        F.batch_norm(x, bn, bn.weight, bn.bias, True)
    with pytest.raises(ShapeError, match=r"running_mean has shape \(3,\).*2 channels"):
        F.batch_norm(x, np.zeros(3), np.ones(3), training=True)


@needs_torch
def test_batch_norm_matches_torch_over_several_training_steps_then_in_eval():
    rng = np.random.default_rng(1)
    weight, bias = rng.normal(size=4), rng.normal(size=4)
    ours = [np.zeros(4), np.ones(4)]
    theirs = [torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)]
    for _ in range(3):
        x = rng.normal(size=(5, 4, 3)) * 3 + 1
        a = F.batch_norm(al.tensor(x), *ours, al.tensor(weight), al.tensor(bias), training=True, momentum=0.2)
        b = torch.nn.functional.batch_norm(torch.tensor(x), *theirs, torch.tensor(weight), torch.tensor(bias),
                                           training=True, momentum=0.2)
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours[0], theirs[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1].numpy(), rtol=1e-12)
    a = F.batch_norm(al.tensor(x), *ours, al.tensor(weight), al.tensor(bias))
    b = torch.nn.functional.batch_norm(torch.tensor(x), *theirs, torch.tensor(weight), torch.tensor(bias))
    np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
def test_export_torch_carries_the_batch_counter():
    model = al.nn.Sequential(al.nn.Linear(2, 3), al.nn.BatchNorm1d(3))
    for _ in range(3):
        model(al.randn(4, 2))
    exported = al.export_torch(model)
    assert int(exported[1].num_batches_tracked) == 3
    np.testing.assert_allclose(exported[1].running_var.numpy(), model[1].running_var)


# ---- two PyTorch tutorials, with only the import lines changed ---------------------------
TUTORIAL_IMPORTS = {
    "torch": """
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset
""",
    "autograd_lab": """
import autograd_lab as torch
import autograd_lab.nn as nn
import autograd_lab.optim as optim
from autograd_lab.data import DataLoader, TensorDataset
""",
}

# "Learning PyTorch with examples" (the polynomial fit of sin, with nn and a hand-written
# update), then the "Training a classifier" loop on random images; the starting weights are
# written by hand under no_grad, so the polynomial fit must give the same numbers on both.
TUTORIAL = """
import math
torch.manual_seed(0)
x = torch.linspace(-math.pi, math.pi, 200, device="cpu")
y = torch.sin(x)
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)
model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1)).to("cpu")
with torch.no_grad():
    model[0].weight[:] = 0.0
    model[0].weight[0, 0] = 0.5
    nn.init.constant_(model[0].bias, 0.1)
model.double()
loss_fn = nn.MSELoss(reduction="sum")
for t in range(300):
    loss = loss_fn(model(xx.double()), y.double())
    if t == 0:
        start_loss = loss.item()
    model.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1000.0)
    with torch.no_grad():
        for param in model.parameters():
            param -= 3e-5 * param.grad
coeffs = [model[0].bias.item()] + [model[0].weight[:, i].item() for i in range(3)]
fit_loss = loss.item()

X = torch.randn(48, 1, 8, 8, device="cpu")
Y = torch.randint(0, 3, (48,))
X[Y == 1] += 1.0
loader = DataLoader(TensorDataset(X, Y), batch_size=8, shuffle=True)
net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def init_weights(m):
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)


net.apply(init_weights)
optimizer = optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
criterion = nn.CrossEntropyLoss()
first = None
for epoch in range(4):
    running_loss = 0.0
    for i, data in enumerate(loader, 0):
        inputs, labels = data
        optimizer.zero_grad()
        loss = criterion(net(inputs), labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    first = running_loss if first is None else first
torch.save(net.state_dict(), PATH)
net.load_state_dict(torch.load(PATH, weights_only=True))
classes = ("low", "high", "other")
correct = total = 0
with torch.no_grad():
    for images, labels in loader:
        outputs = net(images)
        _, predicted = torch.max(outputs, dim=1)
        total += labels.size(0)
        correct += (predicted == labels).type(torch.float32).sum().item()
names = [classes[predicted[j]] for j in range(4)]
"""


def _run_tutorial(lib, tmp_path):
    scope = {"PATH": str(tmp_path / f"net_{lib}.pt")}
    exec(compile(TUTORIAL_IMPORTS[lib] + TUTORIAL, f"<tutorial on {lib}>", "exec"), scope)
    return scope


def test_pytorch_tutorials_run_here_with_only_the_imports_changed(tmp_path):
    ours = _run_tutorial("autograd_lab", tmp_path)
    assert ours["fit_loss"] < ours["start_loss"] / 10
    assert ours["coeffs"][1] == pytest.approx(0.8, abs=0.05)        # sin x ~ 0.8 x - 0.085 x^3 so far
    assert ours["coeffs"][3] == pytest.approx(-0.085, abs=0.01)
    assert ours["running_loss"] < ours["first"]
    assert ours["total"] == 48 and ours["correct"] / 48 > 0.4
    assert all(name in ("low", "high", "other") for name in ours["names"])


@needs_torch
def test_the_polynomial_fit_gives_torchs_numbers(tmp_path):
    ours, theirs = _run_tutorial("autograd_lab", tmp_path), _run_tutorial("torch", tmp_path)
    np.testing.assert_allclose(ours["coeffs"], theirs["coeffs"], rtol=1e-5, atol=1e-7)
    assert ours["fit_loss"] == pytest.approx(theirs["fit_loss"], rel=1e-5)
    assert theirs["total"] == ours["total"] == 48


def test_tensor_methods_named_like_torchs_ops_bind_the_tensor():
    x = al.tensor([1.0, 2.0], requires_grad=True)
    assert x.add(1).data.tolist() == [2.0, 3.0] and x.sub(x).data.tolist() == [0.0, 0.0]
    assert x.mul(3).data.tolist() == [3.0, 6.0] and x.div(2).data.tolist() == [0.5, 1.0]
    assert x.neg().data.tolist() == [-1.0, -2.0]
    assert x.maximum(al.tensor([1.5, 1.5])).data.tolist() == [1.5, 2.0]
    x.pow(2).add(x).sum().backward()
    assert x.grad.tolist() == [3.0, 5.0]


def test_init_functions_fill_in_place_with_torchs_bounds():
    al.manual_seed(0)
    w = al.nn.Parameter(np.zeros((300, 200)))
    assert al.nn.init.kaiming_uniform_(w, nonlinearity="relu") is w
    bound = np.sqrt(2.0) * np.sqrt(3.0 / 200)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.95 * bound
    al.nn.init.xavier_normal_(w)
    assert w.data.std() == pytest.approx(np.sqrt(2.0 / 500), rel=0.03)
    assert al.nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(np.sqrt(2 / 1.04))
    al.nn.init.constant_(w, 0.25)
    assert np.all(w.data == 0.25) and w.is_leaf and w.requires_grad


def test_device_keywords_index_and_type():
    assert al.zeros(2, device="cpu").shape == (2,) and al.tensor([1.0], device="cpu").shape == (1,)
    with pytest.raises(RuntimeError, match="CPU only"):
        al.randn(2, device="cuda")
    pred = al.tensor(np.array([2, 0]))
    assert ["a", "b", "c"][pred[0]] == "c" and int(pred[1]) == 0 and float(al.tensor(1.5)) == 1.5
    with pytest.raises(TypeError, match="integer 0-d"):
        ["a"][al.tensor([0.0])[0]]
    assert np.arange(5)[al.tensor(np.array([3]))].shape == (1,)     # a (1,) index stays an array
    assert al.tensor([1.7]).type(al.int64).data.tolist() == [1] and al.tensor([1.0]).type() == "float32"


def test_dataloader_over_a_dataset_gives_tensor_batches():
    ds = al.data.TensorDataset(al.arange(10) * 1.0, al.arange(10))
    batches = list(al.data.DataLoader(ds, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert isinstance(batches[0][0], al.Tensor) and batches[2][1].data.tolist() == [8, 9]

    class Squares:                       # any map-style dataset: items collated into Tensors
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i % 2

    (x, y), = list(al.data.DataLoader(Squares(), batch_size=8, shuffle=True))
    assert sorted(x.data[:, 1].tolist()) == [0, 1, 4, 9, 16]
    np.testing.assert_array_equal(y.data, x.data[:, 0].astype(int) % 2)
    with pytest.raises(ValueError, match="different lengths"):
        al.data.TensorDataset(al.zeros(3), al.zeros(4))


def test_in_place_fill_and_new_tensors_follow_setitems_rules():
    x = al.tensor([1.0, 2.0, 3.0])
    assert x.fill_(2.5) is x and x.data.tolist() == [2.5, 2.5, 2.5]
    assert x.zero_().data.tolist() == [0.0, 0.0, 0.0]
    w = al.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place operation"):
        w.zero_()
    with al.no_grad():
        w.fill_(0.5)
    assert w.data.tolist() == [0.5, 0.5] and w.requires_grad
    d = al.tensor(np.ones(2, np.float64))
    z = d.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == np.float64 and not z.requires_grad and z.data.sum() == 0
    assert d.new_full((2,), 7).data.tolist() == [7.0, 7.0] and d.new_ones((1,), dtype=np.int64).dtype == np.int64
    assert d.new_tensor([1, 2]).dtype == np.float64


def test_split_chunk_sort_topk_and_one_hot_by_value():
    x = al.tensor(np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]]))
    assert [p.shape for p in x.split(2, dim=1)] == [(2, 2), (2, 1)]
    assert [p.shape for p in al.chunk(al.arange(7), 3)] == [(3,), (3,), (1,)]
    values, indices = x.sort(dim=1)
    assert values.data.tolist() == [[1, 2, 3], [0, 4, 5]] and indices.data.tolist() == [[1, 2, 0], [0, 2, 1]]
    values, indices = al.topk(x, 1, dim=0, largest=False)
    assert values.data.tolist() == [[0, 1, 2]] and indices.data.tolist() == [[1, 0, 0]]
    assert al.nn.functional.one_hot(al.tensor(np.array([2, 0]))).data.tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(ShapeError, match=r"split: sizes \[1, 1\] do not add up to 3"):
        x.split([1, 1], dim=1)
    with pytest.raises(ShapeError, match="mm: needs two 2-D"):
        al.mm(x, al.ones(3))
