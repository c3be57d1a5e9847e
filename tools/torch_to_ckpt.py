#!/usr/bin/python3
"""torch_to_ckpt.py -- a PyTorch-trained model written as one of our checkpoints
(docs/checkpoint.md), which `rnn_names predict` and `rnn_names eval` accept.

The model is rnn_names' classifier built with torch.nn (tools/ckpt_to_torch.py's
NamesModel: the tutorial RNN, or an Elman/GRU/LSTM stack "rnn", optionally a reverse
stack "rnn_reverse", and a Linear "head"); its state_dict keys are our tensor names
(i2h.weight, rnn.weight_ih_l0, head.bias, ...). The meta text is what rnn_names reads:
model, hidden, layers, bidirectional, pool, letters, classes. No optimizer state: the
checkpoint predicts and evaluates; it is not a run to --resume.

As a module:
    from torch_to_ckpt import write_names_model
    write_names_model("out.ckpt", model)          # model: a NamesModel

From the shell, a state_dict saved with torch.save (a bare state_dict, or the
{"state_dict", "meta"} that ckpt_to_torch.py writes):
    /usr/bin/python3 tools/torch_to_ckpt.py model.pt out.ckpt --model gru --hidden 64 \\
        --layers 2 --classes Arabic,Chinese,...            # or the .pt's own meta
"""
import argparse
import os
import struct
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ckpt_to_torch import LETTERS, MAGIC, VERSION, NamesModel, parse_meta  # noqa: E402


def checkpoint_bytes(meta, tensors):
    """The file: magic, version, meta, the float32 records in the given order, no
    optimizer (byte 0), CRC-32 of all of it."""
    out = bytearray(MAGIC)
    m = meta.encode("utf-8")
    out += struct.pack("<II", VERSION, len(m)) + m
    out += struct.pack("<I", len(tensors))
    for name, t in tensors.items():
        n = name.encode("utf-8")
        t = t.detach().to(torch.float32).contiguous().cpu()
        if t.dim() > 4:
            raise ValueError(f"{name}: rank {t.dim()}; a checkpoint holds rank 0 to 4")
        out += struct.pack("<H", len(n)) + n + struct.pack("<B", t.dim())
        out += struct.pack(f"<{t.dim()}I", *t.shape)
        out += struct.pack(f"<{t.numel()}f", *t.reshape(-1).tolist())
    out += b"\0"  # no optimizer
    out += struct.pack("<I", zlib.crc32(bytes(out)))
    return bytes(out)


def write_checkpoint(path, meta, tensors):
    """Writes path + ".tmp", then renames it over path (an earlier file stays whole on
    failure), as nn_ckpt_save does."""
    data = checkpoint_bytes(meta, tensors)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_names_model(path, model):
    """A NamesModel as an rnn_names checkpoint."""
    if not isinstance(model, NamesModel):
        raise TypeError("write_names_model takes a NamesModel (tools/ckpt_to_torch.py)")
    if not 2 <= len(model.classes) <= 64 or any("," in c or not c for c in model.classes):
        raise ValueError("classes: 2 to 64 non-empty names without ','")
    write_checkpoint(path, model.meta(), model.state_dict_names())


def main():
    ap = argparse.ArgumentParser(description="Write a PyTorch rnn_names model as our checkpoint.")
    ap.add_argument("state", help="a torch.save'd state_dict, or {'state_dict': ..., 'meta': ...}")
    ap.add_argument("out", help="the checkpoint to write")
    ap.add_argument("--model", choices=["tutorial", "elman", "gru", "lstm"])
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--pool", choices=["last", "mean"], default=None)
    ap.add_argument("--classes", help="comma-separated, in label order")
    ap.add_argument("--model-word", default=None,
                    help="the word written as meta 'model' for the tutorial RNN (default 'tutorial'; "
                         "'seed' for an rnn_names from before the rename)")
    a = ap.parse_args()
    obj = torch.load(a.state, map_location="cpu")
    sd = obj["state_dict"] if isinstance(obj, dict) and "state_dict" in obj else obj
    m = parse_meta(obj.get("meta", "")) if isinstance(obj, dict) and "meta" in obj else {}
    kind = a.model or {"seed": "tutorial"}.get(m.get("model"), m.get("model"))
    hidden = a.hidden or (int(m["hidden"]) if "hidden" in m else None)
    classes = a.classes.split(",") if a.classes else (m["classes"].split(",") if "classes" in m else None)
    if not kind or not hidden or not classes:
        sys.exit("torch_to_ckpt: give --model, --hidden and --classes (or a .pt holding the meta text)")
    layers = a.layers or int(m.get("layers", "1"))
    bidir = a.bidirectional or m.get("bidirectional") == "1"
    pool = (a.pool or m.get("pool", "last")) == "mean"
    model = NamesModel(kind, hidden, layers, classes, bidirectional=bidir, pool_mean=pool)
    sd = {k[len("tutorial."):] if k.startswith("tutorial.") else k: v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if not k.startswith(("sgd.", "adam.", "adamw.", "adagrad.", "rmsprop."))}
    try:
        model.load_names(sd)  # every name and shape checked (strict)
    except RuntimeError as e:
        sys.exit(f"torch_to_ckpt: the state_dict does not fit a {kind} model with hidden={hidden}, "
                 f"layers={layers}, {len(classes)} classes: {e}")
    meta = model.meta()
    if kind == "tutorial" and a.model_word:
        meta = meta.replace("model=tutorial\n", f"model={a.model_word}\n", 1)
    write_checkpoint(a.out, meta, model.state_dict_names())
    print(f"wrote {a.out}: {kind}, hidden {hidden}, layers {layers}, {len(classes)} classes ({len(LETTERS)} letters)")


if __name__ == "__main__":
    main()
