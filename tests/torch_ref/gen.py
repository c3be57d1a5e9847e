#!/usr/bin/python3
"""gen.py -- reference values from PyTorch itself for tests/test_torch_ref.c (ops.txt)
and tests/test_torch_ref_nn.c (modules.txt, optim.txt).

Run by hand, with Debian's python3-torch (no other package):

    /usr/bin/python3 tests/torch_ref/gen.py          # rewrites tests/torch_ref/*.txt

It is deterministic: fixed seeds, one thread, repr() of doubles, cases in a fixed
order, so on the same torch version it regenerates the committed files byte for byte
(`git diff --exit-code tests/torch_ref` after a run says so). The fixtures are
committed; CTest and CI never need PyTorch.

File format (version 1)
-----------------------
Plain text in whitespace-separated tokens; '#' starts a comment that runs to the end
of the line. Each record is written on one line for reading, but a reader may treat
line breaks as any other whitespace. Reals are Python repr() of doubles (shortest
round-trip form; 'inf', '-inf', 'nan' included), which C's strtod reads exactly.

    agref 1                              the first token pair: format and version
    case NAME OP                         starts a case; NAME is unique in the file,
                                         OP names the C function that runs it
    i KEY N v1 .. vN                     N ints (dims, indices, targets, flags)
    f KEY N v1 .. vN                     N reals (scalar arguments: exponents, bounds)
    t KEY RANK d1 .. dRANK v1 .. vSIZE   a tensor, row-major; RANK 0 is a scalar (1 value)
    end                                  ends the case

Keys of an op case (OP is the ag.h name without "ag_"):
    inputs        as the ag_ function's parameters: x, a, b, W, logits, ...; a list of
                  tensors (cat, stack) as xs.0, xs.1, ...; the cells' gate projections
                  as gi.0, gi.1, ... and gh.0, gh.1, ..., their state as h or c
    out           the forward result (t), and out.indices (i) where the op has them;
                  lstm_cell's is torch.stack([h', c']) (2, N, H), so that both outputs
                  are compared and the seed reaches c' directly as well as through h'
    seed          the upstream gradient out.grad, same shape as out (fixed weights of
                  random sign and size in [0.5, 1.5), as ag_backward_seed), so the
                  whole Jacobian is tested along one direction; absent for ops
                  without gradient (argmax)
    grad.KEY      d(sum(seed * out))/d KEY for input KEY. An input with a grad.KEY
                  is made a parameter (requires_grad) in C, the others constants.

Every input tensor is rounded to float32 before torch sees it (then computed in
float64), so the float build of the library reads exactly the same inputs and its
error is its own arithmetic, not the rounding of its inputs. Scalar arguments an
ag_float receives (pow's exponent, clamp's bounds, scale's factor) are float-exact too.

Adding a case
-------------
For an op already here: one more emit(...) call in the op's section below; nothing
changes in C. For a new op: a section here and one builder in the table of
tests/test_torch_ref.c (a function that reads its inputs by key and calls the op);
the C test fails on a case whose OP it does not know, and on a builder no case uses.

Modules and optimizers go the same way, each family in its own file: modules.txt
(write_modules) and optim.txt (write_optim), read by tests/test_torch_ref_nn.c, which
links nn and uses the same reader (tests/torch_ref/agref.h) with its own builder
table; CMake passes it both files. A module case gives its parameters as inputs with
grad.KEY under torch's own names (weight, bias, weight_ih_l0_reverse, i2h.weight, ...;
bind() makes the fixture's tensors the torch module's parameters), and its input,
output and seed as an op case does:
    OP nn_linear      x, weight, bias (optional)
    OP tutorial_rnn   x (T, N, I), i2h.*, i2o.*; i lengths (optional)
    OP rnn            x (T, N, I), h0 (optional), weight_ih_lK[_reverse], ...;
                      i kind (nn_rnn_kind), layers, bidirectional, lengths (optional);
                      out is torch's h_n (layers * directions, N, H)
    OP nn_embedding   weight; i shape, idx, padding_idx (-1: none)
    OP nn_layernorm   x, weight, bias; i shape (normalized), affine; f eps
A new module: a section in write_modules and a builder in test_torch_ref_nn.c. An
optimizer case (OP optim, emit_optim) gives i kind (nn_optim_kind), steps, centered,
f lr, momentum, weight_decay, beta1, beta2, eps, lr_decay, initial_accumulator_value,
alpha (0 where unused), the parameters p.K, a gradient g.K.S per parameter and step
(S from 0) and the parameters after each step, p.K.stepS (S from 1), which the
builder compares with agref_check_values() before returning NULL. A new optimizer
setting: one emit_optim call; a new optimizer: its kind in the builder's switch.
"""
import os
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)          # one reduction order, run after run
torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))


def r(v):
    """a real as the file writes it"""
    return repr(float(v))


class Writer:
    def __init__(self, path):
        self.path = path
        self.lines = []
        self.names = set()
        self.g = torch.Generator().manual_seed(1234)

    # ---- inputs: random, float32-exact ----
    def uniform(self, shape, lo, hi):
        u = torch.rand(shape, generator=self.g, dtype=torch.float64)
        return (u * (hi - lo) + lo).float().double()

    def randint_vals(self, shape, lo, hi):
        """small integers as reals: ties on purpose (max, min, argmax)"""
        return torch.randint(lo, hi, shape, generator=self.g).double()

    def seed_like(self, out):
        size = torch.rand(out.shape, generator=self.g, dtype=torch.float64) + 0.5
        sign = torch.randint(0, 2, out.shape, generator=self.g).double() * 2 - 1
        return (size * sign).float().double()

    # ---- records ----
    def tensor(self, key, x):
        x = x.detach().double()
        dims = " ".join(str(d) for d in x.shape)
        vals = " ".join(r(v) for v in x.reshape(-1).tolist())
        head = "t %s %d" % (key, x.dim()) + (" " + dims if dims else "")
        self.lines.append(head + " " + vals)

    def ints(self, key, v):
        v = list(v)
        self.lines.append("i %s %d%s" % (key, len(v), "".join(" %d" % int(a) for a in v)))

    def reals(self, key, v):
        v = list(v)
        self.lines.append("f %s %d%s" % (key, len(v), "".join(" " + r(a) for a in v)))

    def emit(self, name, op, inputs, fn, ints=(), reals=(), backward=True):
        """inputs: list of (key, tensor, requires_grad); fn(dict of leaves) -> out or
        (out, {key: int list}). ints, reals: lists of (key, values)."""
        assert name not in self.names, name
        self.names.add(name)
        leaves = {}
        for key, x, rg in inputs:
            leaves[key] = x.clone().requires_grad_(rg)
        res = fn(leaves)
        extra = {}
        if isinstance(res, tuple):
            res, extra = res
        self.lines.append("case %s %s" % (name, op))
        for key, x, rg in inputs:
            self.tensor(key, x)
        for key, v in ints:
            self.ints(key, v)
        for key, v in reals:
            self.reals(key, v)
        self.tensor("out", res)
        for key, v in extra.items():
            self.ints(key, v)
        if backward:
            seed = self.seed_like(res)
            res.backward(seed)
            self.tensor("seed", seed)
            for key, x, rg in inputs:
                if rg:
                    gr = leaves[key].grad
                    self.tensor("grad." + key, gr if gr is not None else torch.zeros_like(x))
        self.lines.append("end")

    def save(self):
        with open(self.path, "w") as f:
            f.write("# written by tests/torch_ref/gen.py with torch %s -- do not edit\n" % torch.__version__)
            f.write("agref 1\n")
            for line in self.lines:
                f.write(line + "\n")
        print("%s: %d cases, %d bytes" % (os.path.relpath(self.path), len(self.names),
                                          os.path.getsize(self.path)))


# ---------------------------------------------------------------------------------
# ops: every public op of ag.h

BCAST = [  # (shape of a, shape of b): equal, trailing vector, column, both sides,
    ((2, 3), (2, 3)),  # scalar, rank 3 against rank 2, rank 4
    ((2, 3), (3,)),
    ((2, 3), (2, 1)),
    ((1, 3), (2, 1)),
    ((), (2, 3)),
    ((2, 1, 3), (4, 1)),
    ((2, 1, 3, 1), (3, 2)),
    ((3, 1, 2, 2), (1, 4, 1, 2)),
]


def write_ops(w):
    U = w.uniform

    # -- binary, every broadcasting pattern, both orders
    binops = [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul), ("div", torch.div)]
    for opname, f in binops:
        for k, (sa, sb) in enumerate(BCAST):
            for swap in (0, 1):
                a_shape, b_shape = (sb, sa) if swap else (sa, sb)
                a = U(a_shape, -1, 1)
                b = U(b_shape, 0.5, 1.5)  # divisors away from 0
                w.emit("%s_bcast%d%s" % (opname, k, "_swap" if swap else ""), opname,
                       [("a", a, True), ("b", b, True)], lambda L, f=f: f(L["a"], L["b"]))
    # a constant operand: only a gets a gradient
    w.emit("mul_const_b", "mul", [("a", U((2, 3), -1, 1), True), ("b", U((3,), -1, 1), False)],
           lambda L: L["a"] * L["b"])

    # -- unary, with edge values
    x24 = lambda lo, hi: U((2, 3, 4), lo, hi)
    edge = torch.tensor([-30.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 30.0])
    w.emit("neg", "neg", [("x", x24(-1, 1), True)], lambda L: -L["x"])
    w.emit("exp", "exp", [("x", x24(-3, 3), True)], lambda L: torch.exp(L["x"]))
    w.emit("exp_edge", "exp", [("x", torch.tensor([-80.0, -20.0, 0.0, 20.0, 80.0]), True)],
           lambda L: torch.exp(L["x"]))
    w.emit("log", "log", [("x", x24(0.1, 3), True)], lambda L: torch.log(L["x"]))
    w.emit("log_edge", "log", [("x", torch.tensor([2.0 ** -20, 1.0, 1e6]), True)], lambda L: torch.log(L["x"]))
    w.emit("tanh", "tanh", [("x", x24(-3, 3), True)], lambda L: torch.tanh(L["x"]))
    w.emit("tanh_edge", "tanh", [("x", edge.float().double(), True)], lambda L: torch.tanh(L["x"]))
    w.emit("sigmoid", "sigmoid", [("x", x24(-4, 4), True)], lambda L: torch.sigmoid(L["x"]))
    w.emit("sigmoid_edge", "sigmoid", [("x", torch.tensor([-100.0, -30.0, 0.0, 30.0, 100.0]), True)],
           lambda L: torch.sigmoid(L["x"]))
    w.emit("relu", "relu", [("x", torch.cat([x24(-1, 1).reshape(-1), torch.zeros(2)]), True)],
           lambda L: torch.relu(L["x"]))  # two exact zeros: gradient 0 there, as torch
    w.emit("scale", "scale", [("x", x24(-1, 1), True)], lambda L: L["x"] * -1.75, reals=[("s", [-1.75])])
    w.emit("sqrt", "sqrt", [("x", x24(0.05, 4), True)], lambda L: torch.sqrt(L["x"]))
    w.emit("sqrt_zero", "sqrt", [("x", torch.tensor([0.0, 0.25, 1e-30]).float().double(), True)],
           lambda L: torch.sqrt(L["x"]))  # gradient inf at 0, as torch
    w.emit("abs", "abs", [("x", torch.cat([x24(-1, 1).reshape(-1), torch.zeros(2)]), True)],
           lambda L: torch.abs(L["x"]))  # gradient 0 at 0, as torch
    for k, p in enumerate([2.0, 0.5, -1.5, 3.0, 0.0, 1.0, 2.5]):
        w.emit("pow%d" % k, "pow", [("x", x24(0.25, 2), True)], lambda L, p=p: torch.pow(L["x"], p),
               reals=[("p", [p])])
    for k, p in enumerate([2.0, 3.0, 0.0]):  # integer powers of negatives and of 0
        xs = torch.cat([U((6,), -2, 2), torch.zeros(1)])
        w.emit("pow_neg%d" % k, "pow", [("x", xs, True)], lambda L, p=p: torch.pow(L["x"], p), reals=[("p", [p])])
    inf = float("inf")
    clamps = [(-0.5, 0.5), (-0.25, inf), (-inf, 0.25), (0.5, -0.5), (-inf, inf)]
    for k, (lo, hi) in enumerate(clamps):
        # values straddling the bounds, and the bounds themselves (gradient 1 there)
        xs = torch.cat([U((10,), -1, 1), torch.tensor([-0.5, 0.5, -0.25, 0.25])])
        w.emit("clamp%d" % k, "clamp", [("x", xs, True)],
               lambda L, lo=lo, hi=hi: torch.clamp(L["x"], min=lo, max=hi) if (lo, hi) == (-inf, inf)
               else torch.clamp(L["x"], min=None if lo == -inf else lo, max=None if hi == inf else hi),
               reals=[("min", [lo]), ("max", [hi])])

    # -- reductions, every dim, negative dims, keepdim
    w.emit("sum", "sum", [("x", x24(-1, 1), True)], lambda L: L["x"].sum())
    w.emit("mean", "mean", [("x", x24(-1, 1), True)], lambda L: L["x"].mean())
    w.emit("sum_scalar", "sum", [("x", U((), -1, 1), True)], lambda L: L["x"].sum())
    for opname, f in (("sum_dim", torch.sum), ("mean_dim", torch.mean)):
        for d in range(-3, 3):
            for keep in (0, 1):
                w.emit("%s_d%d_k%d" % (opname, d, keep), opname, [("x", x24(-1, 1), True)],
                       lambda L, f=f, d=d, keep=keep: f(L["x"], dim=d, keepdim=bool(keep)),
                       ints=[("dim", [d]), ("keepdim", [keep])])

    # -- products
    w.emit("matmul", "matmul", [("a", U((3, 4), -1, 1), True), ("b", U((4, 5), -1, 1), True)],
           lambda L: L["a"] @ L["b"])
    w.emit("matmul_long", "matmul", [("a", U((2, 40), -1, 1), True), ("b", U((40, 3), -1, 1), True)],
           lambda L: L["a"] @ L["b"])
    w.emit("linear", "linear", [("x", U((3, 4), -1, 1), True), ("W", U((5, 4), -1, 1), True),
                                ("b", U((5,), -1, 1), True)], lambda L: F.linear(L["x"], L["W"], L["b"]))
    w.emit("linear_nobias", "linear", [("x", U((2, 6), -1, 1), True), ("W", U((3, 6), -1, 1), True)],
           lambda L: F.linear(L["x"], L["W"]))
    # 20 rows: the weight gradient is added at once (fewer rows are deferred to the
    # end of the pass), and columns past one 16-lane block
    w.emit("linear_rows20", "linear", [("x", U((20, 19), -1, 1), True), ("W", U((4, 19), -1, 1), True),
                                       ("b", U((4,), -1, 1), True)], lambda L: F.linear(L["x"], L["W"], L["b"]))
    w.emit("bmm", "bmm", [("a", U((2, 3, 4), -1, 1), True), ("b", U((2, 4, 5), -1, 1), True)],
           lambda L: torch.bmm(L["a"], L["b"]))
    w.emit("bmm_b1", "bmm", [("a", U((1, 1, 20), -1, 1), True), ("b", U((1, 20, 17), -1, 1), True)],
           lambda L: torch.bmm(L["a"], L["b"]))

    # -- joins and parts
    for d in (0, 1, 2, -1):
        shapes = []
        for k in range(3):
            s = [2, 3, 2]
            s[d] = k + 1
            shapes.append(tuple(s))
        w.emit("cat_d%d" % d, "cat", [("xs.%d" % k, U(s, -1, 1), True) for k, s in enumerate(shapes)],
               lambda L, d=d: torch.cat([L["xs.%d" % k] for k in range(3)], dim=d), ints=[("dim", [d])])
    w.emit("cat_const", "cat", [("xs.0", U((2, 3), -1, 1), True), ("xs.1", U((2, 1), -1, 1), False)],
           lambda L: torch.cat([L["xs.0"], L["xs.1"]], dim=1), ints=[("dim", [1])])
    for d in range(-3, 3):  # the new dim: 0..2 for inputs of rank 2
        w.emit("stack_d%d" % d, "stack", [("xs.%d" % k, U((2, 3), -1, 1), True) for k in range(3)],
               lambda L, d=d: torch.stack([L["xs.%d" % k] for k in range(3)], dim=d), ints=[("dim", [d])])
    for d in range(-3, 3):
        w.emit("select_d%d" % d, "select", [("x", x24(-1, 1), True)],
               lambda L, d=d: L["x"].select(d, 1), ints=[("dim", [d]), ("index", [1])])
        n = (2, 3, 4)[d]
        w.emit("slice_d%d" % d, "slice", [("x", x24(-1, 1), True)],
               lambda L, d=d, n=n: L["x"].narrow(d, 1, n - 1), ints=[("dim", [d]), ("start", [1]), ("end", [n])])
        idx = [1, 0, 1, 1] if (2, 3, 4)[d] == 2 else [2, 0, 2, 1]
        w.emit("index_select_d%d" % d, "index_select", [("x", x24(-1, 1), True)],
               lambda L, d=d, idx=idx: torch.index_select(L["x"], d, torch.tensor(idx)),
               ints=[("dim", [d]), ("index", idx)])
    # detach: x * detach(x), so the gradient misses the detached factor's path
    w.emit("detach", "detach", [("x", x24(-1, 1), True)], lambda L: L["x"] * L["x"].detach())
    # one_hot: constants, no gradient
    idx = [3, 0, 4, 4, 1]
    w.emit("one_hot", "one_hot", [], lambda L, idx=idx: F.one_hot(torch.tensor(idx), 5).double(),
           ints=[("idx", idx), ("classes", [5])], backward=False)
    w.emit("reshape", "reshape", [("x", U((2, 12), -1, 1), True)], lambda L: L["x"].reshape(4, -1, 2),
           ints=[("shape", [4, -1, 2])])
    w.emit("reshape_scalar", "reshape", [("x", U((1, 1), -1, 1), True)], lambda L: L["x"].reshape(()),
           ints=[("shape", [])])
    for k, dims in enumerate([(2, 0, 1), (1, 2, 0), (-1, 0, 1), (0, 2, 1), (0, 1, 2)]):
        w.emit("permute%d" % k, "permute", [("x", x24(-1, 1), True)],
               lambda L, dims=dims: L["x"].permute(*dims), ints=[("dims", dims)])
    w.emit("permute_rank4", "permute", [("x", U((2, 3, 1, 4), -1, 1), True)],
           lambda L: L["x"].permute(3, 1, 0, 2), ints=[("dims", (3, 1, 0, 2))])
    for k, (d0, d1) in enumerate([(0, 1), (0, 2), (1, -1), (-1, -3), (1, 1)]):
        w.emit("transpose%d" % k, "transpose", [("x", x24(-1, 1), True)],
               lambda L, d0=d0, d1=d1: L["x"].transpose(d0, d1), ints=[("dim0", [d0]), ("dim1", [d1])])
    w.emit("embedding", "embedding", [("W", U((5, 3), -1, 1), True)],
           lambda L: F.embedding(torch.tensor([0, 2, 2, 4, 1, 2]), L["W"]),
           ints=[("idx", [0, 2, 2, 4, 1, 2]), ("padding_idx", [-1])])
    w.emit("embedding_pad", "embedding", [("W", U((5, 3), -1, 1), True)],
           lambda L: F.embedding(torch.tensor([0, 2, 2, 4, 1, 2]), L["W"], padding_idx=2),
           ints=[("idx", [0, 2, 2, 4, 1, 2]), ("padding_idx", [2])])

    # -- softmax family, max/min/argmax (with ties: small integers)
    for d in range(-3, 3):
        w.emit("softmax_d%d" % d, "softmax", [("x", x24(-3, 3), True)],
               lambda L, d=d: torch.softmax(L["x"], d), ints=[("dim", [d])])
        w.emit("log_softmax_d%d" % d, "log_softmax", [("x", x24(-3, 3), True)],
               lambda L, d=d: torch.log_softmax(L["x"], d), ints=[("dim", [d])])
    big = torch.tensor([[1e4, 1e4 - 1.5, -1e4, 0.0], [-1e4, -1e4, -1e4, -1e4], [30.0, -30.0, 0.0, 5.0]])
    w.emit("softmax_large", "softmax", [("x", big, True)], lambda L: torch.softmax(L["x"], 1), ints=[("dim", [1])])
    w.emit("log_softmax_large", "log_softmax", [("x", big, True)], lambda L: torch.log_softmax(L["x"], 1),
           ints=[("dim", [1])])
    for opname in ("max_dim", "min_dim"):
        for d in range(-3, 3):
            for keep in (0, 1):
                def f(L, d=d, keep=keep, opname=opname):
                    v, i = (torch.max if opname == "max_dim" else torch.min)(L["x"], dim=d, keepdim=bool(keep))
                    return v, {"out.indices": i.reshape(-1).tolist()}
                w.emit("%s_d%d_k%d" % (opname, d, keep), opname, [("x", w.randint_vals((2, 3, 4), 0, 3), True)],
                       f, ints=[("dim", [d]), ("keepdim", [keep])])
    for d in range(-3, 3):
        for keep in (0, 1):
            w.emit("argmax_d%d_k%d" % (d, keep), "argmax", [("x", w.randint_vals((2, 3, 4), 0, 3), False)],
                   lambda L, d=d, keep=keep: torch.argmax(L["x"], dim=d, keepdim=bool(keep)).double(),
                   ints=[("dim", [d]), ("keepdim", [keep])], backward=False)

    # -- losses
    tg = [2, 0, 4, 2]
    for red in ("mean", "sum"):
        w.emit("nll_loss_" + red, "nll_loss", [("logp", U((4, 5), -3, 0), True)],
               lambda L, red=red: F.nll_loss(L["logp"], torch.tensor(tg), reduction=red),
               ints=[("targets", tg), ("reduction", [red == "sum"])])
    ce = [  # (name, targets, reduction, ignore_index, label_smoothing, logits range)
        ("mean", [1, 0, 3, 3, 2], "mean", -100, 0.0, 2),
        ("sum", [1, 0, 3, 3, 2], "sum", -100, 0.0, 2),
        ("ignore", [1, -100, 3, -100, 2], "mean", -100, 0.0, 2),
        ("ignore_sum", [1, -100, 3, -100, 2], "sum", -100, 0.0, 2),
        ("ignore_custom", [1, 3, 0, 3, 3], "mean", 3, 0.0, 2),
        ("smooth", [1, 0, 3, 3, 2], "mean", -100, 0.1, 2),
        ("smooth_sum", [1, 0, 3, 3, 2], "sum", -100, 0.25, 2),
        ("smooth_ignore", [1, -100, 3, -100, 2], "mean", -100, 0.3, 2),
        ("smooth_one", [1, 0, 3, 3, 2], "mean", -100, 1.0, 2),
        ("large", [1, 0, 3, 3, 2], "mean", -100, 0.2, 1e4),
    ]
    for name, t, red, ign, ls, rng_ in ce:
        w.emit("cross_entropy_" + name, "cross_entropy", [("logits", U((5, 4), -rng_, rng_), True)],
               lambda L, t=t, red=red, ign=ign, ls=ls: F.cross_entropy(
                   L["logits"], torch.tensor(t), reduction=red, ignore_index=ign, label_smoothing=ls),
               ints=[("targets", t), ("reduction", [red == "sum"]), ("ignore_index", [ign])],
               reals=[("label_smoothing", [ls])])
    for red in ("mean", "sum"):
        w.emit("mse_loss_" + red, "mse_loss", [("input", U((3, 4), -1, 1), True), ("target", U((3, 4), -1, 1), True)],
               lambda L, red=red: F.mse_loss(L["input"], L["target"], reduction=red),
               ints=[("reduction", [red == "sum"])])
        w.emit("bce_with_logits_" + red, "bce_with_logits",
               [("logits", U((3, 4), -4, 4), True), ("targets", U((3, 4), 0, 1), True)],
               lambda L, red=red: F.binary_cross_entropy_with_logits(L["logits"], L["targets"], reduction=red),
               ints=[("reduction", [red == "sum"])])
    xl = torch.tensor([-1e3, -50.0, -20.0, 0.0, 20.0, 50.0, 1e3, 0.5])
    yl = torch.tensor([0.0, 1.0, 0.25, 0.5, 0.0, 1.0, 1.0, 0.75])
    w.emit("bce_with_logits_large", "bce_with_logits", [("logits", xl, True), ("targets", yl, True)],
           lambda L: F.binary_cross_entropy_with_logits(L["logits"], L["targets"], reduction="sum"),
           ints=[("reduction", [1])])

    # -- recurrent cells: gi.K, gh.K (each gate's input and hidden projection, biases
    # included) and the state, all (N, H), through gru_cell / lstm_cell below, which
    # check_cells() proves are torch.nn.GRUCell's and LSTMCell's. Saturated gates: input
    # projections of +-30; constants: an input without gradient
    check_cells()
    cells = (  # (name, op, N, H, range of gi, inputs without gradient)
        ("gru_cell", "gru_cell", 3, 4, 3, ()),
        ("gru_cell_n1", "gru_cell", 1, 7, 3, ()),
        ("gru_cell_saturated", "gru_cell", 2, 5, 30, ()),
        ("gru_cell_const_h", "gru_cell", 2, 3, 3, ("h", "gi.1")),
        ("lstm_cell", "lstm_cell", 3, 4, 3, ()),
        ("lstm_cell_n1", "lstm_cell", 1, 7, 3, ()),
        ("lstm_cell_saturated", "lstm_cell", 2, 5, 30, ()),
        ("lstm_cell_const_gi", "lstm_cell", 2, 3, 3, ("gi.0", "gi.1", "gi.2", "gi.3")),
    )
    for name, op, N, H, rng_, const in cells:
        G, state = (3, "h") if op == "gru_cell" else (4, "c")
        keys = ["gi.%d" % k for k in range(G)] + ["gh.%d" % k for k in range(G)] + [state]
        ins = [(key, U((N, H), -rng_, rng_) if key.startswith("gi") else U((N, H), -2, 2), key not in const)
               for key in keys]
        w.emit(name, op, ins, lambda L, G=G, op=op, state=state: (gru_cell if op == "gru_cell" else lstm_cell_stacked)(
            [L["gi.%d" % k] for k in range(G)], [L["gh.%d" % k] for k in range(G)], L[state]))


def gru_cell(gi, gh, h):
    """ag_gru_cell: gates r, z, n in torch's order"""
    r = torch.sigmoid(gi[0] + gh[0])
    z = torch.sigmoid(gi[1] + gh[1])
    n = torch.tanh(gi[2] + r * gh[2])
    return (1 - z) * n + z * h


def lstm_cell(gi, gh, c):
    """ag_lstm_cell: gates i, f, g, o in torch's order -> (h', c')"""
    i = torch.sigmoid(gi[0] + gh[0])
    f = torch.sigmoid(gi[1] + gh[1])
    g = torch.tanh(gi[2] + gh[2])
    o = torch.sigmoid(gi[3] + gh[3])
    c2 = f * c + i * g
    return o * torch.tanh(c2), c2


def lstm_cell_stacked(gi, gh, c):
    return torch.stack(lstm_cell(gi, gh, c))


def check_cells():
    """gru_cell and lstm_cell are torch.nn.GRUCell's and LSTMCell's step: given the
    module's projections gi = chunks of x W_ih^T + b_ih and gh = chunks of h W_hh^T + b_hh,
    they give the module's output and, through the projections, the gradient of x, the
    state(s) and every parameter. Asserted on random values of a generator of its own;
    nothing is written."""
    g = torch.Generator().manual_seed(4321)
    N, I, H = 3, 4, 5
    for cls, G in ((torch.nn.GRUCell, 3), (torch.nn.LSTMCell, 4)):
        m = cls(I, H)
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.rand(p.shape, generator=g) * 1.6 - 0.8)
        x = (torch.rand(N, I, generator=g) * 2 - 1).requires_grad_()
        h = (torch.rand(N, H, generator=g) * 2 - 1).requires_grad_()
        c = (torch.rand(N, H, generator=g) * 2 - 1).requires_grad_()
        gi = F.linear(x, m.weight_ih, m.bias_ih).chunk(G, 1)
        gh = F.linear(h, m.weight_hh, m.bias_hh).chunk(G, 1)
        if cls is torch.nn.GRUCell:
            ours, theirs, leaves = [gru_cell(gi, gh, h)], [m(x, h)], [x, h]
        else:
            ours, theirs, leaves = list(lstm_cell(gi, gh, c)), list(m(x, (h, c))), [x, h, c]
        leaves += list(m.parameters())
        seeds = [torch.rand(N, H, generator=g) - 0.5 for _ in ours]
        d_ours = torch.autograd.grad(ours, leaves, seeds, retain_graph=True)
        d_theirs = torch.autograd.grad(theirs, leaves, seeds)
        for a, b in zip(ours + list(d_ours), theirs + list(d_theirs)):
            assert a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=1e-12), (cls.__name__, a, b)


# ---------------------------------------------------------------------------------
# modules: every nn.h module, parameters set from the fixture (keys are torch's
# parameter names), its input and every parameter with a gradient

def bind(module, leaves, names):
    """makes the fixture's leaf tensors the module's parameters, so torch's gradients
    land on them (an RNN also keeps a list of its weights for the fused kernel)"""
    for n in names:
        module._parameters[n] = leaves[n]
    if hasattr(module, "_flat_weights_names"):
        module._flat_weights = [leaves[n] for n in module._flat_weights_names]
    return module


def write_modules(w):
    U = w.uniform

    # -- Linear (nn_linear_forward): x (N, in)
    for name, n, i, o, bias in (("linear", 3, 4, 5, True), ("linear_nobias", 2, 3, 2, False)):
        ins = [("x", U((n, i), -1, 1), True), ("weight", U((o, i), -0.8, 0.8), True)]
        if bias:
            ins.append(("bias", U((o,), -0.8, 0.8), True))
        w.emit(name, "nn_linear", ins,
               lambda L, i=i, o=o, bias=bias: bind(torch.nn.Linear(i, o, bias=bias), L,
                                                    ["weight"] + (["bias"] if bias else []))(L["x"]))

    # -- the tutorial's RNN (nn_tutorial_rnn_forward), written as the tutorial does and run
    # one sequence at a time over its own length, as the tutorial trains: x (T, N, I)
    class TutorialRNN(torch.nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.i2h = torch.nn.Linear(input_size + hidden_size, hidden_size)
            self.i2o = torch.nn.Linear(input_size + hidden_size, output_size)
            self.softmax = torch.nn.LogSoftmax(dim=1)

        def forward(self, input, hidden):
            combined = torch.cat((input, hidden), 1)
            hidden = self.i2h(combined)
            output = self.i2o(combined)
            output = self.softmax(output)
            return output, hidden

    def tutorial(L, lengths, I, H, O):
        m = TutorialRNN(I, H, O)
        bind(m.i2h, {"weight": L["i2h.weight"], "bias": L["i2h.bias"]}, ["weight", "bias"])
        bind(m.i2o, {"weight": L["i2o.weight"], "bias": L["i2o.bias"]}, ["weight", "bias"])
        x = L["x"]
        outs = []
        for n in range(x.shape[1]):
            h = torch.zeros(1, H)
            for s in range(lengths[n]):
                out, h = m(x[s, n:n + 1], h)
            outs.append(out)
        return torch.cat(outs, 0)

    T, I, H, O = 5, 3, 4, 3
    for name, N, lengths in (("tutorial_rnn", 1, None), ("tutorial_rnn_lengths", 3, [5, 2, 4])):
        ins = [("x", U((T, N, I), -1, 1), True),
               ("i2h.weight", U((H, I + H), -0.8, 0.8), True), ("i2h.bias", U((H,), -0.8, 0.8), True),
               ("i2o.weight", U((O, I + H), -0.8, 0.8), True), ("i2o.bias", U((O,), -0.8, 0.8), True)]
        w.emit(name, "tutorial_rnn", ins,
               lambda L, N=N, lengths=lengths: tutorial(L, lengths or [T] * N, I, H, O),
               ints=[("lengths", lengths)] if lengths else [])

    # -- Elman / GRU / LSTM stacks (nn_rnn_forward per layer and direction): torch.nn.RNN,
    # GRU, LSTM with num_layers and bidirectional, batch_first=False, lengths through
    # pack_padded_sequence (enforce_sorted=False), h0 or none. out is torch's h_n
    # (layers * directions, N, H): every layer's and direction's final state. An LSTM's
    # h0 goes with c0 = 0, as nn_rnn_forward starts its cell state.
    T, N, I, H = 4, 3, 2, 3
    kinds = ((0, "elman", torch.nn.RNN, 1), (1, "gru", torch.nn.GRU, 3), (2, "lstm", torch.nn.LSTM, 4))
    configs = (  # (layers, bidirectional, h0, lengths)
        (1, False, False, None),
        (1, True, True, None),
        (2, False, False, [4, 1, 3]),
        (2, True, True, [2, 4, 3]),
    )
    for kind, kname, cls, G in kinds:
        for layers, bi, with_h0, lengths in configs:
            D = 2 if bi else 1
            name = "%s_l%d%s%s%s" % (kname, layers, "_bi" if bi else "", "_h0" if with_h0 else "",
                                      "_lengths" if lengths else "")
            ins = [("x", U((T, N, I), -1, 1), True)]
            if with_h0:
                ins.append(("h0", U((layers * D, N, H), -1, 1), True))
            pnames = []
            for l in range(layers):
                for sfx in ("", "_reverse")[:D]:
                    isz = I if l == 0 else D * H
                    for pn, shape in (("weight_ih", (G * H, isz)), ("weight_hh", (G * H, H)),
                                      ("bias_ih", (G * H,)), ("bias_hh", (G * H,))):
                        key = "%s_l%d%s" % (pn, l, sfx)
                        pnames.append(key)
                        ins.append((key, U(shape, -0.8, 0.8), True))

            def run(L, cls=cls, layers=layers, bi=bi, with_h0=with_h0, lengths=lengths, pnames=pnames):
                m = bind(cls(I, H, num_layers=layers, bidirectional=bi), L, pnames)
                x = L["x"]
                if lengths:
                    x = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
                h0 = None
                if with_h0:
                    h0 = (L["h0"], torch.zeros_like(L["h0"])) if cls is torch.nn.LSTM else L["h0"]
                _, hn = m(x, h0)
                return hn[0] if cls is torch.nn.LSTM else hn

            w.emit(name, "rnn", ins, run,
                   ints=[("kind", [kind]), ("layers", [layers]), ("bidirectional", [int(bi)])] +
                        ([("lengths", lengths)] if lengths else []))

    # -- Embedding (nn_embedding_forward): indices of shape (2, 4) with repeats, and a
    # padding row that is used (it gets no gradient)
    idx = [[1, 2, 0, 2], [5, 2, 3, 1]]
    for name, pad in (("embedding", -1), ("embedding_pad", 2)):
        w.emit(name, "nn_embedding", [("weight", U((6, 3), -1, 1), True)],
               lambda L, pad=pad: bind(torch.nn.Embedding(6, 3, padding_idx=None if pad < 0 else pad), L,
                                       ["weight"])(torch.tensor(idx)),
               ints=[("shape", [2, 4]), ("idx", sum(idx, [])), ("padding_idx", [pad])])
    w.emit("embedding_scalar", "nn_embedding", [("weight", U((4, 5), -1, 1), True)],
           lambda L: bind(torch.nn.Embedding(4, 5), L, ["weight"])(torch.tensor(3)),
           ints=[("shape", []), ("idx", [3]), ("padding_idx", [-1])])

    # -- LayerNorm (nn_layernorm_forward): over the last dim and the last two, with and
    # without weight and bias, two eps; rows of mean far from 0 and of tiny spread
    cases = (  # (name, x shape, normalized shape, affine, eps)
        ("layernorm", (2, 3, 4), (4,), True, 1e-5),
        ("layernorm_2d", (2, 3, 4), (3, 4), True, 1e-5),
        ("layernorm_noaffine", (3, 5), (5,), False, 1e-5),
        ("layernorm_eps", (4, 6), (6,), True, 1e-3),
    )
    for name, xs, ns, affine, eps in cases:
        ins = [("x", U(xs, -2, 2), True)]
        if affine:
            ins += [("weight", U(ns, 0.5, 1.5), True), ("bias", U(ns, -0.5, 0.5), True)]
        w.emit(name, "nn_layernorm", ins,
               lambda L, ns=ns, affine=affine, eps=eps: bind(
                   torch.nn.LayerNorm(ns, eps=eps, elementwise_affine=affine), L,
                   ["weight", "bias"] if affine else [])(L["x"]),
               ints=[("shape", ns), ("affine", [int(affine)])], reals=[("eps", [eps])])
    x = torch.cat([U((2, 5), -1, 1) + 3, U((1, 5), -1, 1) * 0.01])  # mean 3; a spread of 0.01
    w.emit("layernorm_offset", "nn_layernorm",
           [("x", x, True), ("weight", U((5,), 0.5, 1.5), True), ("bias", U((5,), -0.5, 0.5), True)],
           lambda L: bind(torch.nn.LayerNorm(5), L, ["weight", "bias"])(L["x"]),
           ints=[("shape", [5]), ("affine", [1])], reals=[("eps", [1e-5])])


# ---------------------------------------------------------------------------------
# optimizers: two parameters, a gradient per step (fixed, random), the parameters
# after every step. Settings as the nn_*_init arguments; kind is nn_optim_kind.

OPTIM_KEYS = ("lr", "momentum", "weight_decay", "beta1", "beta2", "eps", "lr_decay",
              "initial_accumulator_value", "alpha")


def emit_optim(w, name, kind, make, settings, centered=0, steps=5):
    assert name not in w.names, name
    w.names.add(name)
    U = w.uniform
    shapes = ((3, 4), (5,))
    p0 = [U(s, -1, 1) for s in shapes]
    grads = [[U(s, -1, 1) for s in shapes] for _ in range(steps)]
    params = [p.clone().requires_grad_(True) for p in p0]
    opt = make(params)
    w.lines.append("case %s optim" % name)
    w.ints("kind", [kind])
    w.ints("steps", [steps])
    w.ints("centered", [centered])
    for key in OPTIM_KEYS:
        w.reals(key, [settings.get(key, 0.0)])
    for k, p in enumerate(p0):
        w.tensor("p.%d" % k, p)
    for s in range(steps):
        for k, p in enumerate(params):
            p.grad = grads[s][k].clone()
            w.tensor("g.%d.%d" % (k, s), grads[s][k])
        opt.step()
        for k, p in enumerate(params):
            w.tensor("p.%d.step%d" % (k, s + 1), p)
    w.lines.append("end")


def write_optim(w):
    O = torch.optim
    # SGD (kind 0): plain, momentum, momentum and weight decay, weight decay alone
    for name, mom, wd in (("sgd", 0.0, 0.0), ("sgd_momentum", 0.9, 0.0), ("sgd_momentum_wd", 0.9, 0.01),
                          ("sgd_wd", 0.0, 0.05)):
        emit_optim(w, name, 0, lambda P, mom=mom, wd=wd: O.SGD(P, lr=0.1, momentum=mom, weight_decay=wd, foreach=False),
                   {"lr": 0.1, "momentum": mom, "weight_decay": wd})
    # Adam (1): torch's defaults; other betas, eps and L2 weight decay
    for name, lr, b1, b2, eps, wd in (("adam", 1e-3, 0.9, 0.999, 1e-8, 0.0), ("adam_wd", 0.01, 0.8, 0.99, 1e-6, 0.1)):
        emit_optim(w, name, 1, lambda P, lr=lr, b1=b1, b2=b2, eps=eps, wd=wd: O.Adam(
            P, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, foreach=False),
            {"lr": lr, "beta1": b1, "beta2": b2, "eps": eps, "weight_decay": wd})
    # Adagrad (2): defaults; every option
    for name, lr, lrd, wd, iav, eps in (("adagrad", 0.01, 0.0, 0.0, 0.0, 1e-10),
                                        ("adagrad_all", 0.1, 0.1, 0.01, 0.1, 1e-6)):
        emit_optim(w, name, 2, lambda P, lr=lr, lrd=lrd, wd=wd, iav=iav, eps=eps: O.Adagrad(
            P, lr=lr, lr_decay=lrd, weight_decay=wd, initial_accumulator_value=iav, eps=eps, foreach=False),
            {"lr": lr, "lr_decay": lrd, "weight_decay": wd, "initial_accumulator_value": iav, "eps": eps})
    # RMSprop (3): defaults; momentum; centered; centered with momentum and weight decay
    for name, lr, alpha, eps, wd, mom, cen in (("rmsprop", 0.01, 0.99, 1e-8, 0.0, 0.0, 0),
                                               ("rmsprop_momentum", 0.01, 0.9, 1e-8, 0.0, 0.9, 0),
                                               ("rmsprop_centered", 0.01, 0.9, 1e-8, 0.0, 0.0, 1),
                                               ("rmsprop_all", 0.005, 0.8, 1e-6, 0.01, 0.5, 1)):
        emit_optim(w, name, 3, lambda P, lr=lr, alpha=alpha, eps=eps, wd=wd, mom=mom, cen=cen: O.RMSprop(
            P, lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=mom, centered=bool(cen), foreach=False),
            {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": wd, "momentum": mom}, centered=cen)
    # AdamW (4): defaults (weight decay 1e-2); other betas and a larger decay
    for name, lr, b1, b2, eps, wd in (("adamw", 1e-3, 0.9, 0.999, 1e-8, 1e-2), ("adamw_wd", 0.01, 0.8, 0.99, 1e-6, 0.1)):
        emit_optim(w, name, 4, lambda P, lr=lr, b1=b1, b2=b2, eps=eps, wd=wd: O.AdamW(
            P, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, foreach=False),
            {"lr": lr, "beta1": b1, "beta2": b2, "eps": eps, "weight_decay": wd})


def main():
    if not torch.__version__.startswith("1.13"):
        print("note: the committed fixtures come from torch 1.13; this is %s" % torch.__version__,
              file=sys.stderr)
    w = Writer(os.path.join(HERE, "ops.txt"))
    write_ops(w)
    w.save()
    w = Writer(os.path.join(HERE, "modules.txt"))
    write_modules(w)
    w.save()
    w = Writer(os.path.join(HERE, "optim.txt"))
    write_optim(w)
    w.save()


if __name__ == "__main__":
    main()
