#!/usr/bin/python3
"""gen.py -- reference values from PyTorch itself for tests/test_torch_ref.c.

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
                  tensors (cat, stack) as xs.0, xs.1, ...
    out           the forward result (t), and out.indices (i) where the op has them
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

Modules and optimizers go the same way, each family in its own file (modules.txt,
optim.txt, written by a function like write_ops below and added to main()), read by
a test that links nn and uses the same reader, tests/torch_ref/agref.h, with its own
builder table; CMake passes it the file as an argument. A module case gives its
parameters as inputs with grad.KEY (weight_ih_l0, ...) and its input, output and
seed as an op case does; an optimizer case gives the parameters and a gradient per
step as inputs and the parameters after each step as tensors (t W.step3), which its
builder compares with agref_check_values() before returning NULL.
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


def main():
    if not torch.__version__.startswith("1.13"):
        print("note: the committed fixtures come from torch 1.13; this is %s" % torch.__version__,
              file=sys.stderr)
    w = Writer(os.path.join(HERE, "ops.txt"))
    write_ops(w)
    w.save()


if __name__ == "__main__":
    main()
