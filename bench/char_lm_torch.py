#!/usr/bin/python3
"""char_lm_torch.py -- the PyTorch reference for char_lm's speed (bench/char_lm.sh).

The same model and training as `char_lm train` (examples/char_lm): characters one-hot
(a character is one code point, the vocabulary in ascending order), a torch.nn.RNN
(tanh) / GRU / LSTM stack, a Linear head, cross-entropy averaged over the chunk,
gradient-norm clipping at 5, Adam (lr 0.002) or SGD, truncated BPTT over chunks of
--seq characters with --batch streams each reading its own part of the text, the state
carried across chunks detached, and zeroed at each pass over the text. One thread.

    /usr/bin/python3 bench/char_lm_torch.py --text examples/char_lm/harbour.txt \\
        --model elman --hidden 100 --seq 25 --batch 1 --steps 1000

prints `chars_per_s=N loss=X` (the loss: mean per character over the last 100 steps).
"""
import argparse
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text", required=True)
    ap.add_argument("--model", default="gru", choices=["elman", "gru", "lstm"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--seq", type=int, default=25)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--optim", default="adam", choices=["adam", "sgd"])
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=20, help="steps not timed")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)

    text = open(a.text, encoding="utf-8").read()
    chars = sorted(set(text))
    of = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([of[c] for c in text], dtype=torch.long)
    V, B, T, H = len(chars), a.batch, a.seq, a.hidden
    seg = (len(ids) - 1) // B
    cpe = seg // T  # chunks per pass over the text
    if cpe < 1:
        raise SystemExit(f"{a.text}: too short for --seq {T} --batch {B}")

    cell = {"elman": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[a.model]
    rnn = cell(V, H, num_layers=a.layers)
    head = torch.nn.Linear(H, V)
    params = list(rnn.parameters()) + list(head.parameters())
    lr = a.lr if a.lr is not None else (0.002 if a.optim == "adam" else 1.0)
    opt = torch.optim.Adam(params, lr=lr) if a.optim == "adam" else torch.optim.SGD(params, lr=lr)
    eye = torch.eye(V)
    starts = torch.arange(B) * seg  # (B,) where each stream's part begins
    offs = torch.arange(T).unsqueeze(1)  # (T, 1)

    def zero_state():
        h = torch.zeros(a.layers, B, H)
        return (h, torch.zeros(a.layers, B, H)) if a.model == "lstm" else h

    state = zero_state()
    losses = []
    t0 = None
    for step in range(a.steps + a.warmup):
        if step == a.warmup:
            t0 = time.perf_counter()
        chunk = step % cpe
        if chunk == 0:
            state = zero_state()
        pos = starts.unsqueeze(0) + chunk * T + offs  # (T, B)
        x = eye[ids[pos]]  # (T, B, V) one-hot
        y = ids[pos + 1].reshape(-1)  # (T * B,)
        out, state = rnn(x, state)  # (T, B, H)
        loss = torch.nn.functional.cross_entropy(head(out.reshape(T * B, H)), y)
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        state = tuple(s.detach() for s in state) if a.model == "lstm" else state.detach()
        losses.append(loss.item())
    secs = time.perf_counter() - t0
    last = losses[-100:]
    print(f"chars_per_s={a.steps * T * B / secs:.0f} loss={sum(last) / len(last):.4f}")


if __name__ == "__main__":
    main()
