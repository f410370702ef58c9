"""Rewrites of the IR: each pass is a plain function Graph -> (Graph, number of changes).

    dce            drop instructions no output needs
    cse            one instruction for identical computations on identical inputs
    fold           evaluate ops whose inputs are all constants, once, at compile time
    simplify       algebra: x*1, x+0, x-0, x/1, -(-x), transpose of transpose, reshape of
                   reshape, reshapes / broadcasts / casts that change nothing; the log-softmax
                   a cross-entropy's gradient recomputes is read from its forward
    lower          gradients the recorded backward spells with general ops, given the kernels
                   the plain backward uses (max-pooling's scatter, a convolution's bias sum)
    pool_before_relu   max_pool2d(relu(x)) computed as relu(max_pool2d(x)), the same values and
                   gradients with ReLU and its gradient's mask on the pooled (smaller) array,
                   and a convolution's bias gradient summed there too
    conv_pool      a convolution, the 2x2 max-pool of its output and a relu after it as one
                   kernel (AVX-512)
    pool_grad_weight   such a convolution's weight gradient from the pool's gradient and
                   argmax, without building the convolution's output gradient
    fuse           chains of elementwise ops into one instruction (one kernel, no temporaries)
    fuse_sums      a sum over the rows of a fused 2-D result (a bias gradient) computed
                   by the same kernel, in the same pass
    plan_buffers   give fused results preallocated buffers, shared once a value is dead,
                   and let a parameter's update write into the parameter itself

`optimize` runs them in order and reports what each changed (`Compiled.passes()`).
"""
from __future__ import annotations

import numpy as np

from .ir import Graph, Instr, Ref, evaluate_instr

# Elementwise ops of the op table, by name: arity, and the expression of one element
# (used by fusion; the codegen turns it into Numba or plain Python).
ELEMENTWISE = {
    "neg": 1, "exp": 1, "log": 1, "sqrt": 1, "tanh": 1, "sigmoid": 1, "relu": 1, "abs": 1,
    "clip": 1, "sign": 1, "astype": 1,
    "add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2, "maximum": 2, "minimum": 2,
    "equal": 2, "not_equal": 2, "less": 2, "less_equal": 2, "greater": 2, "greater_equal": 2,
    "where": 3,
}
# ops whose result may be a view of their first input (buffers: a view keeps its base alive)
VIEWS = {"reshape", "transpose", "broadcast_to", "getitem"}


def _remap(graph, replace, drop=()):
    """A new graph with every read of `replace` keys redirected, `drop` ids removed."""
    def r(i):
        while i in replace:
            i = replace[i]
        return i

    def param(v):
        if isinstance(v, Ref):
            return Ref(r(v.id), v.shape)
        if isinstance(v, tuple):
            return tuple(param(x) for x in v)
        return v
    out = []
    for ins in graph.instrs:
        if ins.id in drop or ins.id in replace:
            continue
        if replace:
            new_inputs = tuple([r(i) for i in ins.inputs])
            dynamic = bool(ins.params) and len(ins.refs()) > len(ins.inputs)
            if new_inputs != ins.inputs or dynamic:
                ins = ins.copy(inputs=new_inputs, params={k: param(v) for k, v in ins.params.items()}
                               if dynamic else ins.params)
        out.append(ins)
    return Graph(out, [(r(i), sink) for i, sink in graph.outputs])


# ---- dead code -------------------------------------------------------------------------------
def dce(graph):
    live = set()
    stack = [i for i, _ in graph.outputs]
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        stack.extend(graph[i].refs())
    dead = {ins.id for ins in graph.instrs if ins.id not in live}
    return _remap(graph, {}, dead), len(dead)


# ---- common subexpressions ---------------------------------------------------------------------
def _key_of_value(v):
    if isinstance(v, np.ndarray):
        return ("array", v.shape, v.dtype.str, v.tobytes() if v.size <= 4096 else id(v))
    if isinstance(v, Ref):
        return v.key()
    if isinstance(v, tuple):
        return tuple(_key_of_value(x) for x in v)
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    if isinstance(v, float) and v != v:
        return ("nan",)
    return (type(v).__name__, v)


def _key(ins, inputs):
    if ins.kind == "input":
        return ("input",) + tuple(id(x) if not isinstance(x, (str, int)) else x for x in ins.value)
    if ins.kind == "const":
        v = ins.value
        if isinstance(v, float):
            return ("const", "float", v) if v == v else None
        if v.size > 4096:
            return None
        return ("const", v.shape, v.dtype.str, v.tobytes())
    if ins.kind == "saved":
        return ("saved", inputs)
    if ins.kind == "op":
        try:
            params = tuple([(k, _key_of_value(v)) for k, v in ins.params.items()]) if ins.params else ()
            hash(params)
        except TypeError:
            return None
        return ("op", ins.op, inputs, params, ins.scalar)
    return None


def cse(graph):
    seen, replace = {}, {}

    def r(i):
        return replace.get(i, i)
    changed = 0
    for ins in graph.instrs:
        key = _key(ins, tuple([r(i) for i in ins.inputs]) if ins.inputs else ())
        if key is None:
            continue
        if key in seen and seen[key] != ins.id:
            replace[ins.id] = seen[key]
            changed += 1
        else:
            seen[key] = ins.id
    return (_remap(graph, replace) if replace else graph), changed


# ---- constant folding ------------------------------------------------------------------------
FOLD_LIMIT = 1 << 20    # elements: larger constants would cost more memory than they save time


def fold(graph):
    values, replace, new = {}, {}, []
    changed = 0
    for ins in graph.instrs:
        if ins.kind == "const":
            values[ins.id] = ins.value
        elif (ins.kind == "op" and ins.inputs and all(i in values for i in ins.inputs)
              and not ins.op.saves and int(np.prod(ins.shape)) <= FOLD_LIMIT
              and not any(isinstance(v, Ref) for v in ins.params.values())):
            value = evaluate_instr(ins, [values[i] for i in ins.inputs])
            values[ins.id] = value
            ins = ins.copy(kind="const", op=None, inputs=(), params={}, value=value)
            changed += 1
        new.append(ins)
    return Graph(new, graph.outputs), changed


# ---- algebra ---------------------------------------------------------------------------------
def _const_is(instrs, i, number):
    ins = instrs[i]
    if ins.kind != "const":
        return False
    v = ins.value
    if isinstance(v, float):
        return v == number
    return v.size <= FOLD_LIMIT and bool(np.all(v == number))


def simplify(graph):
    replace = {}
    rewritten = []
    changed = 0

    current = dict(graph.by_id)     # instructions as rewritten so far

    def same(a, b):     # b may stand for a: same shape and dtype
        return current[a].shape == current[b].shape and current[a].dtype == current[b].dtype

    cross_entropy_of = {}     # logits id -> cross_entropy instruction (it saves their log-softmax)
    for ins in graph.instrs:
        if ins.inputs and replace:
            new_inputs = tuple([replace.get(i, i) for i in ins.inputs])
            if new_inputs != ins.inputs:
                ins = ins.copy(inputs=new_inputs)
        target = None
        name = ins.op.name if ins.kind == "op" else None
        x = ins.inputs[0] if ins.inputs else None
        if name == "cross_entropy" and ins.op.saves and len(ins.shape) == 0:
            cross_entropy_of.setdefault(x, ins.id)
        if (name == "log_softmax" and x in cross_entropy_of and len(current[x].shape) == 2
                and ins.params.get("axis") in (-1, 1)):
            # the recorded backward recomputes log_softmax(logits); the forward's cross-entropy
            # computed it already and keeps it for its rule: read that instead
            ins = ins.copy(kind="saved", op=None, inputs=(cross_entropy_of[x],), params={})
            changed += 1
        elif name == "mul":
            a, b = ins.inputs
            if _const_is(current, b, 1) and same(ins.id, a):
                target = a
            elif _const_is(current, a, 1) and same(ins.id, b):
                target = b
        elif name == "add":
            a, b = ins.inputs
            if _const_is(current, b, 0) and same(ins.id, a):
                target = a
            elif _const_is(current, a, 0) and same(ins.id, b):
                target = b
        elif name == "sub" and _const_is(current, ins.inputs[1], 0) and same(ins.id, x):
            target = x
        elif name == "div" and _const_is(current, ins.inputs[1], 1) and same(ins.id, x):
            target = x
        elif name == "neg" and current[x].kind == "op" and current[x].op.name == "neg":
            target = current[x].inputs[0]
        elif name in ("reshape", "broadcast_to") and same(ins.id, x):
            target = x
        elif name == "astype" and same(ins.id, x):
            target = x
        elif name == "reshape" and current[x].kind == "op" and current[x].op.name == "reshape":
            ins = ins.copy(inputs=(current[x].inputs[0],))
            changed += 1
        elif name == "transpose" and current[x].kind == "op" and current[x].op.name == "transpose":
            inner = current[x]
            n = len(ins.shape)
            first = inner.params["axes"] or tuple(range(n))[::-1]
            second = ins.params["axes"] or tuple(range(n))[::-1]
            axes = tuple(first[a] for a in second)
            source = inner.inputs[0]
            if axes == tuple(range(n)):
                target = source
            else:
                ins = ins.copy(inputs=(source,), params={"axes": axes})
                changed += 1
        if target is not None:
            replace[ins.id] = target
            changed += 1
        rewritten.append(ins)
        current[ins.id] = ins
    result = _remap(Graph(rewritten, graph.outputs), replace)
    return result, changed


# ---- lowering --------------------------------------------------------------------------------
# The recorded backward spells some gradients with general ops, where the plain backward
# calls a kernel made for them: max-pooling's gradient as reshape -> scatter_add at the saved
# argmax -> reshape (a serial scatter over the whole batch; the kernel splits the batch over
# the threads), a convolution's bias gradient as a numpy sum over (0, 2, 3).
def _lowered_ops():
    from ..kernels import conv as KC
    from ..kernels import pool as KP
    from .ir import HostOp
    return (HostOp("max_pool2d_backward", lambda g, argmax, *, x_shape: KP.max_pool2d_backward(
                g.reshape(argmax.shape), argmax, x_shape)),
            HostOp("conv2d_grad_bias", lambda g: KC.conv2d_grad_bias(g)))


def lower(graph):
    max_pool_backward, grad_bias = _lowered_ops()
    new, changed = [], 0
    current = graph.by_id
    for ins in graph.instrs:
        if ins.kind == "op" and ins.op.name == "reshape" and not ins.scalar:
            scatter = current[ins.inputs[0]]
            if (scatter.kind == "op" and scatter.op.name == "scatter_add"
                    and isinstance(scatter.params.get("index"), Ref)
                    and current[scatter.params["index"].id].kind == "saved"
                    and current[current[scatter.params["index"].id].inputs[0]].op.name == "max_pool2d"):
                flat = current[scatter.inputs[0]]
                saved = scatter.params["index"].id
                if (flat.kind == "op" and flat.op.name == "reshape"
                        and int(np.prod(current[saved].shape)) == int(np.prod(flat.shape))):
                    ins = ins.copy(op=max_pool_backward, inputs=(flat.inputs[0], saved),
                                   params={"x_shape": ins.shape})
                    changed += 1
        elif (ins.kind == "op" and ins.op.name == "sum" and not ins.scalar
              and len(current[ins.inputs[0]].shape) == 4 and ins.params.get("axis") == (0, 2, 3)
              and not ins.params.get("keepdims") and current[ins.inputs[0]].dtype.kind == "f"):
            ins = ins.copy(op=grad_bias, params={})
            changed += 1
        new.append(ins)
    return Graph(new, graph.outputs), changed


# ---- max-pool before ReLU ------------------------------------------------------------------------
# ReLU is monotone, so max_pool(relu(x)) = relu(max_pool(x)), and the gradients agree too:
# where a window's maximum is positive both send the gradient to the same (first) maximum,
# elsewhere both send nothing (relu'(0) = 0). Pooling first, ReLU and its gradient's mask
# run on the pooled array, a quarter of the size for 2x2 windows, and the full-size mask
# pass of the backward disappears: the masked pooled gradient is scattered directly.
def _is_op(ins, name):
    return ins.kind == "op" and not ins.scalar and ins.op.name == name


def pool_before_relu(graph):
    """max_pool2d(relu(x)) -> relu(max_pool2d(x)); its lowered backward
    mul(max_pool2d_backward(g, argmax), greater(x, 0)) -> max_pool2d_backward(g * (pooled > 0), argmax);
    a convolution's bias gradient over that backward -> the channel sums of g * (pooled > 0)."""
    users = graph.consumers()
    current = graph.by_id
    next_id = [graph.next_id()]

    def new_id():
        next_id[0] += 1
        return next_id[0] - 1
    pools = {}          # max_pool2d id -> its relu's input
    for ins in graph.instrs:
        if _is_op(ins, "max_pool2d") and _is_op(current[ins.inputs[0]], "relu"):
            relu = current[ins.inputs[0]]
            if users[relu.id] == [ins.id] and relu.dtype == ins.dtype:
                pools[ins.id] = relu.inputs[0]
    if not pools:
        return graph, 0
    masked = {}         # mul id -> (max_pool2d_backward id, pool id): the backward to rewrite
    for ins in graph.instrs:
        if not (_is_op(ins, "mul") and len(ins.inputs) == 2):
            continue
        for b, k in (ins.inputs, ins.inputs[::-1]):
            back, mask = current[b], current[k]
            if not (back.kind == "op" and back.op.name == "max_pool2d_backward" and _is_op(mask, "greater")):
                continue
            pool = current[back.inputs[1]].inputs[0] if current[back.inputs[1]].kind == "saved" else None
            if (pool in pools and mask.inputs[0] == pools[pool] and _const_is(current, mask.inputs[1], 0)
                    and users[b] == [ins.id]
                    and int(np.prod(current[back.inputs[0]].shape)) == int(np.prod(current[pool].shape))
                    and ins.shape == back.shape and ins.dtype == back.dtype):
                masked[ins.id] = (b, pool, mask)
                break
    rewritten_back = {b: (pool, mask, current[y]) for y, (b, pool, mask) in masked.items()}
    replace = {y: b for y, (b, _, _) in masked.items()}
    pooled_first = {}   # old max_pool2d id (now the relu) -> new max_pool2d id
    pooled_gradient = {}    # rewritten max_pool2d_backward id -> the masked pooled gradient's id
    summed_pooled = 0
    new = []
    for ins in graph.instrs:
        if ins.id in pools:
            first = ins.copy(id=new_id(), inputs=(pools[ins.id],))
            relu = current[ins.inputs[0]]
            pooled_first[ins.id] = first.id
            new.append(first)
            new.append(relu.copy(id=ins.id, inputs=(first.id,), shape=ins.shape, source=ins.source))
        elif ins.kind == "saved" and ins.inputs[0] in pooled_first:
            new.append(ins.copy(inputs=(pooled_first[ins.inputs[0]],)))
        elif ins.id in rewritten_back:
            pool, mask, mul = rewritten_back[ins.id]
            positive = mask.copy(id=new_id(), inputs=(pool, mask.inputs[1]), shape=current[pool].shape)
            gradient = current[ins.inputs[0]]
            shape = current[pool].shape
            if gradient.shape != shape:     # the lowered backward reshapes it to the pooled shape
                from ..ops.primitives import reshape
                gradient = Instr(new_id(), "op", op=reshape, inputs=(gradient.id,),
                                 params={"shape": shape}, shape=shape, dtype=gradient.dtype)
                new.append(gradient)
            scaled = mul.copy(id=new_id(), inputs=(gradient.id, positive.id), shape=shape,
                              dtype=gradient.dtype)
            new.extend([positive, scaled, ins.copy(inputs=(scaled.id,) + ins.inputs[1:])])
            pooled_gradient[ins.id] = pooled_gradient[mul.id] = scaled.id   # mul's readers read ins next
        elif ins.kind == "op" and ins.op.name == "conv2d_grad_bias" and ins.inputs[0] in pooled_gradient:
            # the scatter moves each value within its own channel: the same channel sums
            new.append(ins.copy(inputs=(pooled_gradient[ins.inputs[0]],)))
            summed_pooled += 1
        else:
            new.append(ins)
    return _remap(Graph(new, graph.outputs), replace), len(pools) + len(masked) + summed_pooled


# ---- a convolution pooled as it is computed --------------------------------------------------------
def _conv_pool_op(relu):
    from ..kernels import conv as KC
    from .ir import HostOp
    return HostOp("conv2d_max_pool2d_relu" if relu else "conv2d_max_pool2d",
                  lambda x, w, b=None, *, stride, padding, dilation:
                  KC.conv2d_max_pool2d(x, w, b, stride, padding, dilation, relu), saves=True)


def conv_pool(graph):
    """max_pool2d(conv2d(x, w, b)) with 2x2 windows, stride 2, when nothing else reads the
    convolution -> one kernel that pools the convolution's blocks while they are in registers
    (kernels.conv.conv2d_max_pool2d): the full-size output is never written nor read back.
    The argmax is the same, so the backward is max-pooling's. Only where the fused kernel
    runs (AVX-512, float32, the geometry in `conv_max_pool_fits`)."""
    from ..kernels import conv as KC
    users = graph.consumers()
    current = graph.by_id
    outputs = {i for i, _ in graph.outputs}
    fused, changed, replace = {}, 0, {}
    new = []
    for ins in graph.instrs:
        conv = current[ins.inputs[0]] if ins.inputs else None
        if (_is_op(ins, "max_pool2d") and _is_op(conv, "conv2d") and users[conv.id] == [ins.id]
                and (tuple(ins.params["kernel"]), tuple(ins.params["stride"]), tuple(ins.params["padding"]))
                == ((2, 2), (2, 2), (0, 0))
                and KC.conv_max_pool_fits(current[conv.inputs[0]].shape, current[conv.inputs[1]].shape,
                                          conv.dtype, conv.params["stride"], conv.params["padding"],
                                          conv.params["dilation"])
                and all(current[i].dtype == conv.dtype for i in conv.inputs)):
            # a relu that alone reads the pooled values (pool_before_relu put it there) comes along
            readers = [current[u] for u in users[ins.id] if current[u].kind != "saved"]
            relu = (len(readers) == 1 and _is_op(readers[0], "relu") and readers[0].dtype == ins.dtype
                    and ins.id not in outputs)      # a returned pool keeps its values before the relu
            if relu:
                replace[readers[0].id] = ins.id
            if relu not in fused:
                fused[relu] = _conv_pool_op(relu)
            ins = ins.copy(op=fused[relu], inputs=conv.inputs, params=dict(conv.params))
            changed += 1 + relu
        new.append(ins)
    return _remap(Graph(new, graph.outputs), replace), changed


def _pooled_grad_weight_op():
    from ..kernels import conv as KC
    from .ir import HostOp
    return HostOp("conv2d_grad_weight_pooled", lambda x, g, argmax, *, w_shape, stride, padding, dilation:
                  KC.conv2d_grad_weight_pooled(x, g, argmax, w_shape, stride, padding, dilation))


def pool_grad_weight(graph):
    """conv2d_grad_weight(x, max_pool2d_backward(g, argmax)) where a conv_pool kernel pooled
    conv2d(x, w) and nothing else reads the pool's input gradient (a first layer: no input
    gradient) -> one kernel that meets each window's pooled gradient with the input at the
    window's winner: the convolution's output gradient is never built (AVX-512 only)."""
    from ..kernels import conv as KC
    users = graph.consumers()
    current = graph.by_id
    op, new, changed = None, [], 0
    for ins in graph.instrs:
        if _is_op(ins, "conv2d_grad_weight"):
            back = current[ins.inputs[1]]
            lowered = back.kind == "op" and back.op.name == "max_pool2d_backward" and len(back.inputs) == 2
            saved = current[back.inputs[1]] if lowered else None
            pool = current[saved.inputs[0]] if saved is not None and saved.kind == "saved" else None
            geometry = {k: ins.params[k] for k in ("stride", "padding", "dilation")}
            if (lowered and users[back.id] == [ins.id] and pool is not None
                    and pool.kind == "op" and pool.op.name in ("conv2d_max_pool2d", "conv2d_max_pool2d_relu")
                    and pool.inputs[0] == ins.inputs[0]
                    and current[pool.inputs[1]].shape == tuple(ins.params["w_shape"])
                    and all(tuple(pool.params[k]) == tuple(v) for k, v in geometry.items())
                    and KC.pooled_grad_weight_fits(current[ins.inputs[0]].shape, ins.params["w_shape"],
                                                   ins.dtype, **geometry)
                    and current[back.inputs[0]].dtype == ins.dtype):
                op = op or _pooled_grad_weight_op()
                ins = ins.copy(op=op, inputs=(ins.inputs[0], back.inputs[0], back.inputs[1]),
                               params=dict(ins.params))
                changed += 1
        new.append(ins)
    return Graph(new, graph.outputs), changed


# ---- fusion ----------------------------------------------------------------------------------
def _fusable(ins):
    return (ins.kind == "op" and ins.op.name in ELEMENTWISE and not ins.scalar
            and not any(isinstance(v, Ref) for v in ins.params.values()))


def fuse(graph):
    """Merge each elementwise op into its consumers' group when all of them are in one group
    of the same shape, and it is not an output: the group runs as one loop."""
    users = graph.consumers()
    outputs = {i for i, _ in graph.outputs}
    group = {}
    for ins in reversed(graph.instrs):
        if not _fusable(ins):
            continue
        mine = users[ins.id]
        groups = {group.get(u) for u in mine}
        if (ins.id not in outputs and mine and len(groups) == 1 and None not in groups
                and graph[next(iter(groups))].shape == ins.shape):
            group[ins.id] = next(iter(groups))
        else:
            group[ins.id] = ins.id          # the root of a new group
    members = {}
    for ins in graph.instrs:
        if ins.id in group:
            members.setdefault(group[ins.id], []).append(ins)
    # a lone op stays as it is: numpy's one pass is as good, and costs no compilation
    singles = {root for root, body in members.items() if len(body) == 1}
    new, changed = [], 0
    for ins in graph.instrs:
        if ins.id in group and group[ins.id] != ins.id:
            continue                        # inside a group: emitted with its root
        if ins.id in group and ins.id not in singles:
            body = members[ins.id]
            inside = {b.id for b in body}
            inputs = []
            for b in body:
                for i in b.inputs:
                    if i not in inside and i not in inputs:
                        inputs.append(i)
            changed += len(body) - 1
            ins = ins.copy(kind="fused", op=None, inputs=tuple(inputs), params={}, body=body)
        new.append(ins)
    return Graph(new, graph.outputs), changed


def _column_sum(ins):
    """Whether `ins` sums a 2-D array over its rows (a linear layer's bias gradient)."""
    return (ins.kind == "op" and ins.op.name == "sum" and ins.params.get("axis") in (0, (0,))
            and not ins.params.get("keepdims") and not ins.scalar)


def fuse_sums(graph):
    """Let a fused kernel over a 2-D array also add up its columns when a `sum` over the
    rows reads its result: one pass instead of two, and no separate call. The sum stays
    in the program as a "reduced" instruction naming the kernel that computes it."""
    data_sinks = {i for i, sink in graph.outputs if sink[0] == "data"}
    new, changed, sums = [], 0, {}
    for ins in graph.instrs:
        src = graph[ins.inputs[0]] if ins.inputs else None
        if (_column_sum(ins) and src.kind == "fused" and len(src.shape) == 2
                and src.dtype == ins.dtype and src.id not in data_sinks):
            sums.setdefault(src.id, []).append(ins.id)
            ins = ins.copy(kind="reduced", op=None, params={})
            changed += 1
        new.append(ins)
    new = [ins.copy(params={"sums": tuple(sums[ins.id])}) if ins.id in sums else ins for ins in new]
    return Graph(new, graph.outputs), changed


# ---- buffers ---------------------------------------------------------------------------------
def plan_buffers(graph):
    """Decide where each fused result is written.

    Returns (graph, changes) with `graph.buffers`: id -> ("pool", k) for a preallocated
    buffer shared by values whose lifetimes do not overlap, or ("inplace", input id)
    for a parameter's update written into the parameter's own array.
    """
    index = {ins.id: n for n, ins in enumerate(graph.instrs)}
    root = {}
    for ins in graph.instrs:
        if ins.kind == "op" and ins.op.name in VIEWS:
            root[ins.id] = root.get(ins.inputs[0], ins.inputs[0])
    last_use = {}
    for ins in graph.instrs:
        for r in ins.refs():
            base = root.get(r, r)
            last_use[base] = max(last_use.get(base, -1), index[ins.id])
    escaping = {root.get(i, i) for i, _ in graph.outputs}
    buffers, changed = {}, 0
    data_sinks = {}
    for i, sink in graph.outputs:
        if sink[0] == "data":
            data_sinks[i] = sink[1]
    expiring, free, slots = {}, {}, {}
    for n, ins in enumerate(graph.instrs):
        for base in expiring.pop(n, ()):          # dead before this instruction: reusable
            kind, slot = buffers[base][1:]
            free.setdefault(kind, []).append(slot)
        if ins.kind != "fused" or ins.scalar:
            continue
        leaf = data_sinks.get(ins.id)
        if leaf is not None:
            for i in ins.inputs:
                src = graph[i]
                if (src.kind == "input" and src.value[0] == "data" and src.value[1] is leaf
                        and src.shape == ins.shape and src.dtype == ins.dtype
                        and last_use.get(i, -1) <= n):
                    buffers[ins.id] = ("inplace", i)
                    changed += 1
                    break
            continue
        if ins.id in escaping:
            continue
        kind = (ins.shape, ins.dtype.str)
        if free.get(kind):
            slot = free[kind].pop()
            changed += 1
        else:
            slot = slots.get(kind, 0)
            slots[kind] = slot + 1
        buffers[ins.id] = ("pool", kind, slot)
        expiring.setdefault(last_use.get(ins.id, n) + 1, []).append(ins.id)
    graph = Graph(graph.instrs, graph.outputs)
    graph.buffers = buffers
    return graph, changed


PIPELINE = (("dce", dce), ("cse", cse), ("fold", fold), ("simplify", simplify), ("cse", cse),
            ("lower", lower), ("pool_before_relu", pool_before_relu), ("dce", dce),
            ("conv_pool", conv_pool), ("pool_grad_weight", pool_grad_weight), ("dce", dce), ("fuse", fuse), ("fuse_sums", fuse_sums),
            ("plan_buffers", plan_buffers))


def optimize(graph, fuse_elementwise=True):
    """Run the pipeline; returns (optimized graph, [(pass, changes, instructions after)])."""
    report = []
    for name, rewrite in PIPELINE:
        if name in ("fuse", "fuse_sums") and not fuse_elementwise:
            continue
        graph, changes = rewrite(graph)
        report.append((name, changes, graph.op_count()))
    return graph, report
