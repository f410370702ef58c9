"""The thread runtime (kernels.parallel) and what importing autograd_lab may not change.

Every test here must end whatever goes wrong: threads are joined with a timeout,
child processes run with one. tests/test_runtime_sigint.py interrupts training.
"""
import json
import multiprocessing
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.kernels import parallel

F = al.nn.functional
pytestmark = pytest.mark.usefixtures("split_mid_size_products")


@pytest.fixture
def threads():
    """Set the thread count inside a test; restored after."""
    before = al.get_num_threads()
    yield al.set_num_threads
    al.set_num_threads(before)


def test_worker_pool_returns_every_share_raises_errors_and_runs_nested_calls_serially(threads):
    for n in (1, 2, 3):
        threads(n)
        for _ in range(50):              # many hand-offs in a row
            shares = parallel.run_chunks(10, 3, lambda ranges: list(ranges))
            assert sorted(r for share in shares for r in share) == [(0, 3), (3, 6), (6, 9), (9, 10)]
            assert len(shares) == min(n, 4) and shares[0][0] == (0, 3)

        def failing(ranges):
            if (3, 6) in ranges:         # the second chunk: a helper's when there is one
                raise KeyError("share 2")
            return ranges
        with pytest.raises(KeyError, match="share 2"):
            parallel.run_chunks(10, 3, failing)
        # a call from inside a share finds the helpers busy and runs on its own thread
        inner = parallel.run_chunks(4, 1, lambda ranges: parallel.run_chunks(
            4, 1, lambda inner_ranges: threading.get_ident()))
        assert all(len(set(ids)) == 1 for ids in inner)


def test_split_products_are_handed_to_polling_and_to_sleeping_helpers(threads):
    """kernels.matmul hands its parts to the helpers' mailboxes (run without the GIL); a helper
    that has gone to sleep is woken through its queue, and Python jobs still reach it."""
    import time
    from autograd_lab.kernels import gemm, spin
    from autograd_lab.kernels.matmul import matmul
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((64, 1280)), rng.standard_normal((1280, 128))
    for n in (2, 3):
        threads(n)
        for dtype in (np.float32, np.float64):
            x, y = a.astype(dtype), b.astype(dtype)
            want = x.astype(np.float64) @ y.astype(np.float64)
            for pause in (0, 0.05):          # back to back (helpers polling), then after they slept
                for left, right in ((x, y), (np.asfortranarray(x), y), (x, y.T.copy().T)):
                    time.sleep(pause)
                    got = matmul(left, right)
                    assert np.allclose(got, want, rtol=1e-4, atol=1e-3 if dtype == np.float32 else 1e-9)
            ran_on = parallel.run_chunks(4, 1, lambda ranges: threading.get_ident())   # Python jobs too
            assert len(set(ran_on)) == n
        if spin.AVAILABLE and gemm.blas_function(np.float32)[0]:
            # the parts went through the mailboxes, and every one posted has been run
            boxes = [helper.box for helper in parallel._helpers]
            assert boxes and all(box[spin.POSTED] > 0 and box[spin.FINISHED] == box[spin.POSTED] for box in boxes)


def test_an_exception_in_the_callers_share_finishes_or_cancels_the_helpers_then_raises(threads):
    """The caller's own share fails (as a KeyboardInterrupt would land there): a helper's share
    that has started must have ended before run_chunks raises, and one that has not must never
    run, so nothing writes into the caller's arrays afterwards."""
    import time
    threads(2)
    for helper_starts_first in (True, False):
        started, ended = threading.Event(), []

        def work(ranges):
            if (0, 1) in ranges:              # the caller's share
                if helper_starts_first:
                    assert started.wait(30)
                raise KeyboardInterrupt
            started.set()
            time.sleep(0.05)
            ended.append(ranges)
            return ranges
        with pytest.raises(KeyboardInterrupt):
            parallel.run_chunks(2, 1, work)
        seen = list(ended)
        time.sleep(0.1)
        assert ended == seen                  # no share ends after the call has raised
        if helper_starts_first:
            assert seen == [[(1, 2)]]
        assert parallel.run_chunks(2, 1, lambda ranges: ranges) == [[(0, 1)], [(1, 2)]]


def test_default_thread_count_follows_the_cores_this_process_may_use(monkeypatch):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    monkeypatch.delenv(parallel.THREADS_VARIABLE, raising=False)
    assert parallel.default_num_threads() == cores
    monkeypatch.setenv(parallel.THREADS_VARIABLE, "1")
    assert parallel.default_num_threads() == 1
    monkeypatch.setenv(parallel.THREADS_VARIABLE, "many")
    with pytest.raises(ValueError, match="AUTOGRAD_LAB_NUM_THREADS must be a whole number"):
        parallel.default_num_threads()


# ---- several users of the kernels at once ----------------------------------------------
def _cnn_run(seed, steps):
    """A few W3-like SGD steps from fixed weights: conv, pool, relu, split products."""
    rng = np.random.default_rng(seed)
    w = [al.tensor(a, requires_grad=True) for a in
         [rng.standard_normal((16, 1, 3, 3)).astype(np.float32) * 0.3, np.zeros(16, np.float32),
          rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.1, np.zeros(32, np.float32),
          rng.standard_normal((10, 2560)).astype(np.float32) * 0.02, np.zeros(10, np.float32)]]
    x = al.tensor(rng.standard_normal((64, 1, 40, 32)).astype(np.float32))
    y = rng.integers(0, 10, 64)
    losses = []
    for _ in range(steps):
        h = F.max_pool2d(F.conv2d(x, w[0], w[1], padding=1).relu(), 2)
        h = F.max_pool2d(F.conv2d(h, w[2], w[3], padding=1).relu(), 2)
        loss = F.cross_entropy(F.linear(h.reshape(64, -1), w[4], w[5]), y)
        loss.backward()
        for p in w:
            p.data -= 0.01 * p.grad
            p.grad = None
        losses.append(loss.item())
    return losses, [p.data.copy() for p in w]


def _agree(a, b):
    losses_a, weights_a = a
    losses_b, weights_b = b
    np.testing.assert_allclose(losses_a, losses_b, rtol=1e-4)
    for p, q in zip(weights_a, weights_b):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5)


def test_two_python_threads_train_two_models_at_once(threads):
    threads(1)
    expected = [_cnn_run(seed, 4) for seed in (1, 2)]
    threads(2)
    results = {}
    runners = [threading.Thread(target=lambda s=seed: results.__setitem__(s, _cnn_run(s, 4)), daemon=True)
               for seed in (1, 2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=120)
    assert not any(runner.is_alive() for runner in runners), "a training thread never ended"
    for seed, want in zip((1, 2), expected):
        _agree(results[seed], want)


def test_set_num_threads_while_work_runs(threads):
    threads(1)
    expected = _cnn_run(3, 5)
    threads(2)
    stop = threading.Event()

    def change_counts():
        counts = [1, 3, 2, 4]
        i = 0
        while not stop.is_set():
            al.set_num_threads(counts[i % 4])
            i += 1
            stop.wait(0.002)
    changer = threading.Thread(target=change_counts, daemon=True)
    changer.start()
    try:
        got = _cnn_run(3, 5)
    finally:
        stop.set()
        changer.join(timeout=10)
    _agree(got, expected)


def _child_run(queue):
    queue.put(_cnn_run(4, 2))


def test_a_forked_child_process_uses_the_kernels(threads):
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this system")
    threads(2)
    expected = _cnn_run(4, 2)            # the parent's helpers are started and waiting
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_child_run, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    got = [queue.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=30)
        assert child.exitcode == 0
    for result in got:
        _agree(result, expected)
    _agree(_cnn_run(4, 2), expected)     # and the parent's pool still works


# ---- importing changes no process-wide setting --------------------------------------------
_STATE = r"""
import ctypes, json, os, sys
def heap_serves_large_blocks():
    # glibc reports its mmap threshold nowhere; a 30 MB block is mmapped (above the heap's
    # break) under the default threshold, and comes from the heap once mallopt raised it.
    try:
        libc = ctypes.CDLL("libc.so.6"); libc.gnu_get_libc_version
    except (OSError, AttributeError):
        return None
    libc.malloc.restype = ctypes.c_void_p; libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.sbrk.restype = ctypes.c_void_p; libc.sbrk.argtypes = [ctypes.c_long]
    block = libc.malloc(30 * 1024 * 1024)
    below_break = block < libc.sbrk(0)
    libc.free(block)
    return bool(below_break)
def state():
    import numba, threadpoolctl
    cfg = {k: repr(getattr(numba.config, k)) for k in dir(numba.config) if k.isupper()}
    blas = [lib["num_threads"] for lib in threadpoolctl.threadpool_info()]
    return {"env": dict(os.environ), "numba": cfg, "blas": blas}
# what autograd_lab itself imports, so that only its own doing differs between the runs
import numpy, numba, scipy.signal, matplotlib, networkx, tqdm, threadpoolctl, soundfile, graphviz
mode = sys.argv[1]
before = state()
if mode != "dependencies":
    import autograd_lab as al
    x = al.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
if mode == "tuned":
    al.tune_memory()
after = state()
print(json.dumps({"before": before, "after": after, "heap": heap_serves_large_blocks()}))
"""


def _state(mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "AUTOGRAD_LAB_"))}
    result = subprocess.run([sys.executable, "-c", _STATE, mode], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_changes_no_process_wide_setting():
    seen = _state("import")
    before, after = seen["before"], seen["after"]
    assert after["env"] == before["env"]
    changed = {k: (before["numba"].get(k), v) for k, v in after["numba"].items() if before["numba"].get(k) != v}
    assert not changed, changed
    assert after["blas"] == before["blas"]
    # the C allocator: as in a process that imported only our dependencies
    assert seen["heap"] == _state("dependencies")["heap"]


def test_the_allocator_probe_sees_mallopt_when_asked_for():
    """The allocator check above must be able to fail: after al.tune_memory() it sees the change."""
    untouched, tuned = _state("dependencies")["heap"], _state("tuned")["heap"]
    if untouched is None:
        pytest.skip("not glibc")
    assert (untouched, tuned) == (False, True)


def test_kernel_cache_is_versioned_by_the_sources_and_lives_in_a_user_cache(tmp_path, monkeypatch):
    from autograd_lab import kernels
    monkeypatch.setenv("AUTOGRAD_LAB_KERNEL_CACHE_DIR", str(tmp_path / "kernels"))
    monkeypatch.setenv("AUTOGRAD_LAB_CACHE_DIR", str(tmp_path))
    version_and_hash = f"{kernels._package_version()}-{kernels.sources_hash()}"
    assert kernels.cache_dir() == str(tmp_path / "kernels" / version_and_hash)
    monkeypatch.delenv("AUTOGRAD_LAB_KERNEL_CACHE_DIR")       # the suite sets it (conftest.py)
    folder = kernels.cache_dir()
    assert folder.startswith(str(tmp_path / "numba")) and folder.endswith(kernels.sources_hash())
    monkeypatch.delenv("AUTOGRAD_LAB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernels.cache_dir().startswith(str(tmp_path / "xdg" / "autograd_lab" / "numba"))
    # compiled kernels are written there, not beside the sources nor in Numba's own setting
    monkeypatch.setenv("AUTOGRAD_LAB_CACHE_DIR", str(tmp_path / "c"))
    code = ("import numpy as np, autograd_lab as al\n"
            "from autograd_lab.kernels import elementwise as KE\n"
            "KE.relu(np.ones(5000, np.float32))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    written = [name for _, _, names in os.walk(tmp_path / "c") for name in names]
    assert any(name.startswith("elementwise._relu") for name in written), written


def _signal_points_tracer(targets, state):
    """A trace function that raises KeyboardInterrupt at the k-th place of `targets` where
    CPython delivers a signal (right after a call returns, at a loop's back edge)."""
    import dis

    def tracer(frame, event, arg):
        if frame.f_code not in targets:
            return None
        frame.f_trace_opcodes = True
        previous = [None]

        def local(frame, event, arg):
            if event != "opcode":
                return local
            op = dis.opname[frame.f_code.co_code[frame.f_lasti]]
            deliverable = previous[0] in ("CALL", "CALL_FUNCTION_EX") or op in ("JUMP_BACKWARD", "RESUME")
            previous[0] = op
            if deliverable:
                state["seen"] += 1
                if state["seen"] == state["raise_at"]:
                    raise KeyboardInterrupt
            return local
        return local
    return tracer


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="signal points follow CPython 3.11's bytecode")
def test_an_interrupt_at_any_point_of_a_split_product_leaves_no_helper_writing(threads):
    """Ctrl-C landing anywhere in a split product: matmul returns the right answer or raises,
    and when it raises no helper is still writing into its arrays; the next product is right."""
    import faulthandler
    import time
    from autograd_lab.kernels import spin
    from autograd_lab.kernels.matmul import matmul
    threads(2)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 256)), rng.standard_normal((256, 256))
    want = a @ b
    matmul(a, b)
    targets = {parallel.run_products.__code__, parallel._Products.wait.__code__,
               parallel._Helper.post_product.__code__, parallel._Helper.mailbox_empty.__code__}
    state = {"seen": 0, "raise_at": -1}
    tracer = _signal_points_tracer(targets, state)
    faulthandler.dump_traceback_later(120, exit=True)       # a hang fails the run, loudly
    try:
        for helpers_asleep in (False, True):
            state.update(seen=0, raise_at=-1)
            sys.settrace(tracer)
            matmul(a, b)
            sys.settrace(None)
            points = state["seen"]
            assert points > 10
            outcomes = {"returned": 0, "raised": 0}
            for k in range(1, points + 1):
                if helpers_asleep:
                    time.sleep(0.03)                        # longer than a helper polls
                state.update(seen=0, raise_at=k)
                sys.settrace(tracer)
                try:
                    got = matmul(a, b)
                    sys.settrace(None)
                    assert np.allclose(got, want)
                    outcomes["returned"] += 1
                except KeyboardInterrupt:
                    sys.settrace(None)
                    outcomes["raised"] += 1
                    for helper in parallel._helpers:
                        if helper.box[spin.FINISHED] != helper.box[spin.POSTED]:
                            # Escaped as the wait began or returned, the helper still at work
                            # (seen on a loaded machine): it must hold the arrays it writes
                            # into, and finish.
                            assert helper.keep is not None and len(helper.keep) == 3, k
                            deadline = time.monotonic() + 10
                            while not helper.mailbox_empty(spin.POLLS):
                                assert time.monotonic() < deadline, k
                assert np.allclose(matmul(a, b), want)      # and the pool still works
            assert outcomes["raised"] >= points // 2, outcomes
    finally:
        sys.settrace(None)
        faulthandler.cancel_dump_traceback_later()


def test_two_python_threads_split_products_at_once(threads):
    from autograd_lab.kernels.matmul import matmul
    threads(2)
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((128, 640)).astype(np.float32), rng.standard_normal((640, 256)).astype(np.float32)
    want = a.astype(np.float64) @ b.astype(np.float64)
    wrong = []

    def work():
        for _ in range(200):
            if not np.allclose(matmul(a, b), want, rtol=1e-4, atol=1e-3):
                wrong.append(1)
    workers = [threading.Thread(target=work) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert not any(w.is_alive() for w in workers) and not wrong


def test_operands_blas_cannot_read_as_they_are_go_through_numpy(threads):
    """A broadcast row, overlapping windows, another byte order: right answers, never a read
    past an operand (kernels.gemm would read what the strides claim)."""
    from numpy.lib.stride_tricks import sliding_window_view
    from autograd_lab.kernels.matmul import matmul
    threads(2)
    rng = np.random.default_rng(2)
    b = rng.standard_normal((1280, 128)).astype(np.float32)
    broadcast = np.broadcast_to(rng.standard_normal(1280).astype(np.float32), (64, 1280))
    windows = sliding_window_view(rng.standard_normal(4000).astype(np.float32), 1280)[:64]
    for a in (broadcast, windows):
        assert np.allclose(matmul(a, b), np.ascontiguousarray(a) @ b, rtol=1e-4, atol=1e-3)
    big_endian_a, big_endian_b = windows.astype(">f8"), b.astype(">f8")
    assert np.allclose(matmul(big_endian_a, big_endian_b), windows.astype(float) @ b.astype(float))
    # the same through the engine: the gradient of a sum is a broadcast array
    x = al.tensor(rng.standard_normal((64, 1280)).astype(np.float32), requires_grad=True)
    w = al.tensor(b, requires_grad=True)
    v = rng.standard_normal(128).astype(np.float32)
    ((x @ w).sum(axis=0) * v).sum().backward()
    assert np.allclose(x.grad, np.broadcast_to(v, (64, 128)) @ b.T, rtol=1e-3, atol=1e-2)
