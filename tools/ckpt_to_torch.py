#!/usr/bin/python3
"""ckpt_to_torch.py -- one of our checkpoints (docs/checkpoint.md) as a PyTorch model.

Reads the file (magic, version, CRC-32 checked), rebuilds the model its meta text
describes with torch.nn modules whose state_dict keys are the checkpoint's tensor
names, and loads the values (load_state_dict(strict=True): every name and shape must
match). Needs only Debian's python3-torch.

Models:
  * rnn_names (meta model=tutorial|seed|elman|gru|lstm, hidden, layers, bidirectional,
    pool, letters, classes, prior_shift): NamesModel, exactly as
    examples/rnn_names/names_model.c builds it --
      tutorial: combined = cat(letter, hidden); hidden' = i2h(combined);
                output = LogSoftmax(i2o(combined)), read at the last letter;
      elman/gru/lstm: a torch.nn.RNN/GRU/LSTM stack "rnn" of `layers` over the one-hot
                letters (57: NAMES_LETTERS), with bidirectional=1 a second, separate
                stack "rnn_reverse" reading each name from its last letter (not
                torch's bidirectional=True, whose upper layers read both directions),
                then Linear "head" over cat(last state, [mean state over the letters
                if pool=mean]) of each stack, forward first, and log_softmax.
  * char_lm (meta vocab=...): CharLM, a stack "rnn" over one-hot characters and a
    Linear "head" giving a logit per character.

Optimizer records (adam.m.*, sgd.momentum.*, ...) are not part of the model and are
left out. Use as a module (load_checkpoint, read_checkpoint) or from the shell:

    /usr/bin/python3 tools/ckpt_to_torch.py build/names.ckpt names.pt      # torch.save
    /usr/bin/python3 tools/ckpt_to_torch.py build/names.ckpt --names Dovesky Jackson

names.pt holds {"state_dict", "meta", "config"}; the second form prints each name's
three most likely languages as `rnn_names predict` does, with full precision.
"""
import argparse
import struct
import sys
import unicodedata
import zlib

import torch

MAGIC = b"agckpt\n\0"
VERSION = 1
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'"
OPTIM_PREFIXES = ("sgd.", "adam.", "adamw.", "adagrad.", "rmsprop.")


class CheckpointError(Exception):
    pass


def read_checkpoint(path):
    """(meta text, {name: float32 tensor}) of every record, optimizer state included."""
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < 25 or b[:8] != MAGIC:
        raise CheckpointError(f"{path}: not a checkpoint (bad magic)")
    (version,) = struct.unpack_from("<I", b, 8)
    if version != VERSION:
        raise CheckpointError(f"{path}: version {version}, this tool reads version {VERSION}")
    (crc,) = struct.unpack_from("<I", b, len(b) - 4)
    if zlib.crc32(b[:-4]) != crc:
        raise CheckpointError(f"{path}: bad checksum (the file is damaged)")
    at = 12
    (meta_len,) = struct.unpack_from("<I", b, at)
    at += 4
    meta = b[at:at + meta_len].decode("utf-8")
    at += meta_len
    (count,) = struct.unpack_from("<I", b, at)
    at += 4
    tensors = {}
    for _ in range(count):
        (nl,) = struct.unpack_from("<H", b, at)
        name = b[at + 2:at + 2 + nl].decode("utf-8")
        at += 2 + nl
        rank = b[at]
        at += 1
        shape = struct.unpack_from(f"<{rank}I", b, at)
        at += 4 * rank
        n = 1
        for d in shape:
            n *= d
        values = torch.frombuffer(bytearray(b[at:at + 4 * n]), dtype=torch.float32)
        if sys.byteorder != "little":
            values = values.byteswap()
        tensors[name] = values.reshape(shape).clone()
        at += 4 * n
    return meta, tensors


def parse_meta(meta):
    out = {}
    for line in meta.split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k, v)
    return out


def fold(name):
    """A name as rnn_names folds it: NFD, combining marks dropped, only LETTERS kept."""
    return "".join(c for c in unicodedata.normalize("NFD", name)
                   if unicodedata.category(c) != "Mn" and c in LETTERS)


class TutorialRNN(torch.nn.Module):
    """The PyTorch tutorial's RNN, with its names (i2h, i2o)."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = torch.nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = torch.nn.Linear(input_size + hidden_size, output_size)
        self.softmax = torch.nn.LogSoftmax(dim=1)

    def forward(self, x):  # x: (T, 1, input) -> (1, output) at the last step
        hidden = x.new_zeros(1, self.hidden_size)
        for t in range(x.shape[0]):
            combined = torch.cat((x[t], hidden), 1)
            hidden = self.i2h(combined)
            output = self.softmax(self.i2o(combined))
        return output


CELLS = {"elman": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


class NamesModel(torch.nn.Module):
    """rnn_names' classifier; forward takes one-hot letters (T, 1, 57) of one name."""

    def __init__(self, kind, hidden, layers, classes, bidirectional=False, pool_mean=False):
        super().__init__()
        self.kind, self.hidden, self.layers = kind, hidden, layers
        self.classes, self.bidirectional, self.pool_mean = list(classes), bidirectional, pool_mean
        self.prior_shift = [0.0] * len(classes)
        if kind == "tutorial":
            self.tutorial = TutorialRNN(len(LETTERS), hidden, len(classes))
            return
        self.rnn = CELLS[kind](len(LETTERS), hidden, num_layers=layers)
        if bidirectional:
            self.rnn_reverse = CELLS[kind](len(LETTERS), hidden, num_layers=layers)
        width = (1 + bidirectional) * (1 + pool_mean) * hidden
        self.head = torch.nn.Linear(width, len(classes))

    def state_dict_names(self):
        """The state_dict with our parameter names (the tutorial's without a prefix)."""
        sd = self.state_dict()
        return {k[len("tutorial."):] if k.startswith("tutorial.") else k: v for k, v in sd.items()}

    def load_names(self, tensors):
        """Loads {our name: tensor}: every parameter must be there, nothing else."""
        if self.kind == "tutorial":
            tensors = {"tutorial." + k: v for k, v in tensors.items()}
        self.load_state_dict(tensors, strict=True)

    def _stack(self, rnn, x):
        out, _ = rnn(x)  # (T, 1, H)
        parts = [out[-1]]
        if self.pool_mean:
            parts.append(out.mean(0))
        return torch.cat(parts, 1)

    def forward(self, x):  # (T, 1, 57) -> (1, classes) log-probabilities
        if self.kind == "tutorial":
            return self.tutorial(x)
        h = self._stack(self.rnn, x)
        if self.bidirectional:
            h = torch.cat((h, self._stack(self.rnn_reverse, x.flip(0))), 1)
        return torch.log_softmax(self.head(h), 1)

    def encode(self, name, dtype=torch.float32):
        letters = fold(name)
        if not letters:
            raise ValueError(f"'{name}': no letter left after folding")
        x = torch.zeros(len(letters), 1, len(LETTERS), dtype=dtype)
        for t, c in enumerate(letters):
            x[t, 0, LETTERS.index(c)] = 1
        return x

    def predict_logp(self, name):
        """Every language's log-probability as `rnn_names predict` computes it: the
        model's, plus prior_shift, renormalised. A list in class order."""
        p = next(self.parameters())
        with torch.no_grad():
            lp = self(self.encode(name, p.dtype))[0].double() + torch.tensor(self.prior_shift, dtype=torch.float64)
        return (lp - torch.logsumexp(lp, 0)).tolist()

    def meta(self):
        """The meta text rnn_names reads to rebuild this model."""
        kind = self.kind
        lines = [f"model={kind}", f"hidden={self.hidden}", f"layers={self.layers}",
                 f"bidirectional={int(self.bidirectional)}"]
        if self.pool_mean:
            lines.append("pool=mean")
        lines += [f"letters={LETTERS}", "classes=" + ",".join(self.classes)]
        if any(self.prior_shift):
            lines.append("prior_shift=" + ",".join(repr(float(s)) for s in self.prior_shift))
        return "\n".join(lines) + "\n"


class CharLM(torch.nn.Module):
    """char_lm's model: one-hot characters, a stack "rnn", a Linear "head"."""

    def __init__(self, kind, vocab, hidden, layers):
        super().__init__()
        self.rnn = CELLS[kind](vocab, hidden, num_layers=layers)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, x, state=None):  # (T, N, V) -> logits (T, N, V), state
        out, state = self.rnn(x, state)
        return self.head(out), state


def build_model(meta_text):
    """A torch model for a checkpoint's meta text (rnn_names or char_lm)."""
    m = parse_meta(meta_text)
    try:
        hidden, layers = int(m["hidden"]), int(m.get("layers", "1"))
        if "vocab" in m:  # char_lm
            return CharLM(m["model"], len(m["vocab"].split(",")), hidden, layers)
        kind = {"seed": "tutorial"}.get(m["model"], m["model"])
        if m.get("letters", LETTERS) != LETTERS:
            raise CheckpointError("its 'letters' are not rnn_names' alphabet")
        model = NamesModel(kind, hidden, layers, m["classes"].split(","),
                           bidirectional=m.get("bidirectional", "0") == "1", pool_mean=m.get("pool") == "mean")
        if "prior_shift" in m:
            model.prior_shift = [float(s) for s in m["prior_shift"].split(",")]
        return model
    except KeyError as e:
        raise CheckpointError(f"its meta text lacks {e}") from None


def load_checkpoint(path):
    """(torch model with the checkpoint's values, meta text, the model's tensors)."""
    meta, tensors = read_checkpoint(path)
    model = build_model(meta)
    params = {k: v for k, v in tensors.items() if not k.startswith(OPTIM_PREFIXES)}
    if isinstance(model, NamesModel):
        model.load_names(params)
    else:
        model.load_state_dict(params, strict=True)
    return model.eval(), meta, params


def main():
    ap = argparse.ArgumentParser(description="Load one of our checkpoints into a PyTorch model.")
    ap.add_argument("checkpoint")
    ap.add_argument("out", nargs="?", help="write {state_dict, meta, config} here with torch.save")
    ap.add_argument("--names", nargs="+", help="print the 3 most likely languages of each name (rnn_names)")
    ap.add_argument("--all", action="store_true", help="with --names: every language, name<TAB>language<TAB>logp")
    ap.add_argument("--double", action="store_true", help="compute in float64 (from the float32 values)")
    a = ap.parse_args()
    try:
        model, meta, params = load_checkpoint(a.checkpoint)
    except (OSError, CheckpointError, RuntimeError, ValueError) as e:
        sys.exit(f"ckpt_to_torch: {e}")
    if a.double:
        model = model.double()
    if a.out:
        torch.save({"state_dict": model.state_dict(), "meta": meta, "config": parse_meta(meta)}, a.out)
        print(f"wrote {a.out}: {len(params)} tensors, {sum(p.numel() for p in params.values())} values")
    for name in a.names or []:
        if not isinstance(model, NamesModel):
            sys.exit("ckpt_to_torch: --names needs an rnn_names checkpoint")
        lp = model.predict_logp(name)
        order = sorted(range(len(lp)), key=lambda c: -lp[c])
        if a.all:
            for c in order:
                print(f"{name}\t{model.classes[c]}\t{lp[c]:.9e}")
        else:
            print(f"> {name}")
            for c in order[:3]:
                print(f"({lp[c]:.6f}) {model.classes[c]}")


if __name__ == "__main__":
    main()
