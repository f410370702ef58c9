"""Ctrl-C at random moments of a training loop, then evaluations that must finish and agree
with a one-thread run.

Run in a subprocess (a hang must end in a timeout, not hang the caller) by
tests/test_runtime_sigint.py, and with more trials by benchmarks/runtime_stress.py:

    python tests/runtime_stress.py FAMILY TRIALS SEED

FAMILY is one of the kernel families of kernels.parallel's users:
  matmul  an MLP trained by `al.train.fit` (split matrix products; fit catches the interrupt)
  conv    conv layers forward and backward (the direct, vector and im2col paths)
  pool    max/avg pooling, ReLU on large arrays, the conv bias gradient
Each trial trains until a SIGINT sent to the main thread after a random delay
lands, then evaluates every family on two inputs and compares with the results of
one thread. One line per trial on stdout; exit status 1 on a wrong result.
"""
from __future__ import annotations

import faulthandler
import os
import random
import signal
import sys
import threading
import time

import numpy as np

FAMILIES = ("matmul", "conv", "pool")


def _evaluations(al, rng):
    """{family: fn() -> list of arrays}: fixed inputs and weights, outputs and gradients."""
    F = al.nn.functional
    mlp = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in [(128, 1280), (128,), (10, 128), (10,)]]
    conv = [rng.standard_normal(s).astype(np.float32) * 0.2
            for s in [(16, 1, 3, 3), (32, 16, 3, 3), (8, 16, 3, 3), (16,), (32,), (8,)]]
    inputs = {"matmul": [rng.standard_normal((64, 1280)).astype(np.float32) for _ in range(2)],
              "conv": [rng.standard_normal((32, 16, 20, 16)).astype(np.float32) for _ in range(2)],
              "pool": [rng.standard_normal((64, 16, 40, 32)).astype(np.float32) for _ in range(2)]}
    labels = rng.integers(0, 10, 64)

    def matmul(x):
        w1, b1, w2, b2 = params = [al.tensor(a, requires_grad=True) for a in mlp]
        xt = al.tensor(x, requires_grad=True)
        out = F.linear(F.linear(xt, w1, b1).relu(), w2, b2)
        F.cross_entropy(out, labels).backward()
        return [out.data, xt.grad] + [p.grad for p in params]

    def conv_layers(x):
        w1, w2, w3, b1, b2, b3 = params = [al.tensor(a, requires_grad=True) for a in conv]
        xt = al.tensor(x, requires_grad=True)
        direct = F.conv2d(xt[:, :1], w1, b1, padding=1)                  # one input channel: direct 3x3
        vector = F.conv2d(xt, w2, b2, padding=1)                         # W4's layer: vector kernels
        im2col = F.conv2d(xt, w3, b3, stride=2, padding=1)               # stride 2: im2col + products
        ((direct ** 2).sum() + (vector ** 2).sum() + (im2col ** 2).sum()).backward()
        return [direct.data, vector.data, im2col.data, xt.grad] + [p.grad for p in params]

    def pool(x):
        xt = al.tensor(x, requires_grad=True)
        a = F.max_pool2d(xt.relu(), 2)
        b = F.avg_pool2d(xt, 3, stride=2, padding=1)
        c = F.max_pool2d(xt, 3, stride=1, padding=1)
        ((a * a).sum() + (b * b).sum() + c.sum()).backward()
        return [a.data, b.data, c.data, xt.grad]

    fns = {"matmul": matmul, "conv": conv_layers, "pool": pool}
    return {name: (lambda name=name: [fns[name](x) for x in inputs[name]]) for name in FAMILIES}


def _trainer(al, family, rng):
    """A function that trains until interrupted (returns normally if fit caught the interrupt)."""
    F, nn = al.nn.functional, al.nn
    if family == "matmul":
        al.kernels.matmul.SPLIT_MIN_MULTIPLY_ADDS = 1 << 20   # W2's products split: the hand-off is what is tested
        model = nn.Sequential(nn.Linear(1280, 128), nn.ReLU(), nn.Linear(128, 10))
        batches = [(rng.standard_normal((64, 1280)).astype(np.float32), rng.integers(0, 10, 64))
                   for _ in range(4)]
        optimizer = al.optim.SGD(model.parameters(), lr=0.01)

        def train():
            history = al.train.fit(model, F.cross_entropy, optimizer, batches, epochs=10 ** 6,
                                   progress=False, log=None)
            assert history.interrupted, "fit ended without an interrupt"
        return train
    if family == "conv":
        model = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 8, 3, stride=2, padding=1))
        x = al.tensor(rng.standard_normal((32, 16, 20, 16)).astype(np.float32))
    else:
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.AvgPool2d(3, stride=2, padding=1))
        x = al.tensor(rng.standard_normal((64, 1, 40, 32)).astype(np.float32))
    optimizer = al.optim.SGD(model.parameters(), lr=1e-4)

    def train():
        while True:
            optimizer.zero_grad()
            (model(x) ** 2).mean().backward()
            optimizer.step()
    return train


def _interrupt_later(delay):
    """A thread that sends SIGINT to the main thread `delay` s after `go` is set."""
    main, go = threading.main_thread().ident, threading.Event()

    def send():
        go.wait()
        time.sleep(delay)
        signal.pthread_kill(main, signal.SIGINT)
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, go


def _agree(got, want):
    """Equal up to float32 rounding at each array's scale: threads add partial sums in another
    order (a weight gradient of entries near 15,000 differs by 0.006). A share left unwritten
    or written late differs by the array's whole scale."""
    return all(g.shape == w.shape and np.array_equal(np.isnan(g), np.isnan(w))
               and np.nanmax(np.abs(g - w), initial=0) <= 1e-5 * np.nanmax(np.abs(w), initial=0) + 1e-6
               for g_list, w_list in zip(got, want) for g, w in zip(g_list, w_list))


def main(family, trials, seed):
    # A process started in the background by a non-interactive shell (`cmd &`, as CI scripts and
    # nohup runs do) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt
    # handler: the interrupts below would never land. Install it whatever we inherited.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A hang ends with every thread's stack on stderr, before the caller's timeout
    if os.environ.get("STRESS_DEADLINE"):
        faulthandler.dump_traceback_later(float(os.environ["STRESS_DEADLINE"]), exit=True)
    import autograd_lab as al
    import tqdm.auto  # noqa: F401  (fit imports it lazily: an interrupt inside an import breaks the module)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    evaluate = _evaluations(al, rng)
    al.set_num_threads(1)
    reference = {name: fn() for name, fn in evaluate.items()}
    al.set_num_threads(2)
    train = _trainer(al, family, rng)
    train_interrupted = None
    for name, fn in evaluate.items():          # compile and warm up before the clock starts
        fn()
    wrong, died = 0, []
    threading.excepthook = lambda hook: died.append(f"{hook.thread.name}: {hook.exc_type.__name__}: {hook.exc_value}")
    for trial in range(trials):
        sender, go = _interrupt_later(pick.uniform(0.0, 0.08))
        try:
            go.set()                          # from here on the interrupt may land
            train()
            train_interrupted = "fit"
        except KeyboardInterrupt:
            train_interrupted = "raised"
        except Exception as error:          # anything else is a failure, but go on with the trials
            train_interrupted = f"ERROR {type(error).__name__}: {error}"
            wrong += 1
        sender.join()
        bad = []
        for name, fn in evaluate.items():
            try:
                if not _agree(fn(), reference[name]):
                    bad.append(name)
            except Exception as error:
                bad.append(f"{name} ({type(error).__name__}: {error})")
        wrong += bool(bad)
        if died:                             # a thread that died is a failure too
            bad.append(f"{len(died)} thread(s) died: {died}")
            wrong += 1
            died.clear()
        print(f"{family} trial {trial}: interrupt {train_interrupted}, "
              + (f"WRONG: {', '.join(bad)}" if bad else "evaluations agree"), flush=True)
    print(f"{family}: {trials} interrupts, {wrong} wrong", flush=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
