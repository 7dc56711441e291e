"""Transformer translator training tokens/s: keraslab's Translator on each Keras backend vs plain
PyTorch, same run.

Every configuration runs in its own subprocess (the Keras backend is fixed per process) on the same
random, padded token batches: batch 64, source and target length 48 by default, ids in
4 .. vocab-1, each row with a random real length between length/2 and length and padding (id 0)
after it; ``target_in`` starts with [START] (2) and ``target_out`` is it shifted left with [END]
(3) at the last real position, so both have the same number of real tokens. Inputs are
``((source, target_in), target_out)``, fed to ``fit`` through a ``keras.utils.PyDataset`` (as the
recipe's ``TranslationBatches``).

keraslab: ``keraslab.recipes.translator.build_model(Config(...), vocab)``, i.e. the recipe
defaults: ``Translator`` with vocabulary 8000, sequence_length 96, width 256, 8 heads,
feed-forward 1024, 2 encoder + 2 decoder blocks, dropout 0.1 (embeddings, attention weights,
residual branches), pre-norm blocks plus a final encoder and decoder LayerNorm, learned
positions, one token embedding shared by source and target, scaled by sqrt(width), and tied with
the output (``h @ E^T + bias``), masked label-smoothed (0.1) cross-entropy, masked accuracy,
Adam(beta_1=0.9, beta_2=0.98, epsilon=1e-9) on the recipe's warm-up / inverse-sqrt schedule.

The plain PyTorch reference is the same network as an ``nn.Module``: ``nn.TransformerEncoderLayer``
/ ``nn.TransformerDecoderLayer`` (batch_first, norm_first, ReLU, dropout 0.1; the dropout *inside*
the feed-forward network, which keraslab does not have, is replaced by ``nn.Identity``), final
LayerNorms, a shared ``nn.Embedding`` scaled by sqrt(width), two learned (96, width) position
tables, tied output with a vocabulary-sized bias; key padding masks for source and target and a
causal mask; ``F.cross_entropy(ignore_index=0, label_smoothing=0.1)`` (each worker checks that its
loss matches keraslab's definition ``(1-e)*nll + e*mean(-log p)`` averaged over non-padding
targets), the same masked accuracy, ``torch.optim.Adam(1e-3, betas=(0.9, 0.98), eps=1e-9)``
(constant learning rate: the schedule costs nothing measurable). The script asserts equal
parameter counts. Threads: each library's defaults.

One step = one batch = one forward/backward/Adam update. Steps/s is the median over timed
windows (``--windows`` windows of ``--steps`` steps each) after ``--warmup`` + 1 steps (JAX and
TensorFlow compile on the first step); tokens/s is the median over the same windows of (real
source tokens + real target tokens) / time. Ratios are against the plain PyTorch reference
measured in this run.

    python benchmarks/translator_step.py                  # all backends, markdown table on stdout
    python benchmarks/translator_step.py --backends jax,torch --steps 20 --windows 5
    python benchmarks/translator_step.py --steps 2 --windows 2 --warmup 1 \\
        --layers 1 --dim 32 --ff 64 --heads 2 --vocab 128 --batch-size 4 --length 8   # smoke test
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

MAX_TOKENS = 96  # the recipe's sequence_length (size of the position tables)
DROPOUT = 0.1
LABEL_SMOOTHING = 0.1
PAD, START, END, FIRST_WORD = 0, 2, 3, 4
WORKER_OPTIONS = (
    "warmup",
    "steps",
    "windows",
    "batch_size",
    "length",
    "layers",
    "dim",
    "ff",
    "heads",
    "vocab",
)


def _data(args):
    """``(source, target_in, target_out)`` int32 arrays (total steps, batch, length), and the real
    (non-padding) source + target tokens of each batch."""
    rng = np.random.default_rng(0)
    shape = (_total_steps(args), args.batch_size, args.length)
    low = max(1, args.length // 2)

    def padded(first=None):
        ids = rng.integers(FIRST_WORD, args.vocab, shape, dtype=np.int64).astype(np.int32)
        real = rng.integers(low, args.length + 1, shape[:2])
        if first is not None:
            ids[..., 0] = first
        ids[np.arange(args.length) >= real[..., None]] = PAD
        return ids, real

    source, _ = padded()
    target_in, real = padded(first=START)
    target_out = np.zeros_like(target_in)
    target_out[..., :-1] = target_in[..., 1:]
    np.put_along_axis(target_out, (real - 1)[..., None], END, axis=-1)
    tokens = (source != PAD).sum(axis=(1, 2)) + (target_out != PAD).sum(axis=(1, 2))
    assert ((target_in != PAD).sum(axis=-1) == real).all() and (
        (target_out != PAD).sum(axis=-1) == real
    ).all()
    return source, target_in, target_out, tokens


def _keraslab_loss(labels, logits, smoothing=LABEL_SMOOTHING):
    """keraslab's ``masked_cross_entropy`` loss, in float64 NumPy (for the loss checks)."""
    logits = logits.astype(np.float64)
    top = logits.max(-1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    nll = (1.0 - smoothing) * nll - smoothing * log_probs.mean(-1)
    mask = labels != PAD
    return float((nll * mask).sum() / max(mask.sum(), 1))


def _loss_check_case():
    """Small random labels (with padding) and logits for the loss checks."""
    rng = np.random.default_rng(1)
    labels = rng.integers(1, 11, (3, 5)).astype(np.int32)
    labels[:, 3:] = PAD
    labels[0, 0] = PAD
    return labels, rng.normal(size=(3, 5, 11)).astype(np.float32) * 3


def _windows(stamps, tokens, warmup, steps, windows):
    """Median steps/s, median tokens/s and per-window steps/s from per-step end times
    (stamps[i]: end of step i) and per-step real tokens; window w covers steps
    warmup + w * steps + 1 .. warmup + (w + 1) * steps."""
    rates, token_rates = [], []
    for w in range(windows):
        a, b = warmup + w * steps, warmup + (w + 1) * steps
        rates.append(steps / (stamps[b] - stamps[a]))
        token_rates.append(float(np.sum(tokens[a + 1 : b + 1])) / (stamps[b] - stamps[a]))
    return float(np.median(rates)), float(np.median(token_rates)), rates


def _total_steps(args):
    return args.warmup + args.windows * args.steps + 1


# ----------------------------------------------------------------- keraslab on a Keras backend
def run_keras(args):
    import keras
    from keras import ops

    from keraslab.models.translator import masked_cross_entropy
    from keraslab.recipes.translator import Config, build_model

    labels, logits = _loss_check_case()
    loss, _ = masked_cross_entropy(labels, logits, PAD, LABEL_SMOOTHING)
    loss = float(ops.convert_to_numpy(loss))
    assert abs(loss - _keraslab_loss(labels, logits)) < 1e-5, (loss, _keraslab_loss(labels, logits))

    source, target_in, target_out, tokens = _data(args)
    total = _total_steps(args)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return total

        def __getitem__(self, i):
            return (source[i], target_in[i]), target_out[i]

    stamps = []

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["translator_loss"])  # wait for the step (JAX dispatches asynchronously)
            stamps.append(time.perf_counter())

    config = Config(
        vocab_size=args.vocab,
        max_tokens=MAX_TOKENS,
        embedding_dim=args.dim,
        num_heads=args.heads,
        intermediate_dim=args.ff,
        layers=args.layers,
        dropout=DROPOUT,
        norm="pre",
        positions="learned",
        label_smoothing=LABEL_SMOOTHING,
    )
    config.validate()
    keras.utils.set_random_seed(0)
    model = build_model(config, args.vocab)
    params = int(sum(math.prod(v.shape) for v in model.trainable_variables))
    assert params == model.count_params(), (params, model.count_params())
    model.fit(Batches(), epochs=1, shuffle=False, verbose=0, callbacks=[Stamp()])
    assert len(stamps) == total, (len(stamps), total)
    return params, *_windows(stamps, tokens, args.warmup, args.steps, args.windows)


# ----------------------------------------------------------------- plain PyTorch reference
def build_torch_translator(args):
    """The recipe's Translator as a plain ``nn.Module`` (see the module docstring)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    d = args.dim
    block = dict(
        d_model=d,
        nhead=args.heads,
        dim_feedforward=args.ff,
        dropout=DROPOUT,
        activation="relu",
        layer_norm_eps=1e-5,
        batch_first=True,
        norm_first=True,
    )

    class Translator(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(args.vocab, d)
            nn.init.normal_(self.embedding.weight, std=d**-0.5)
            self.source_positions = nn.Parameter(
                nn.init.xavier_uniform_(torch.empty(MAX_TOKENS, d))
            )
            self.target_positions = nn.Parameter(
                nn.init.xavier_uniform_(torch.empty(MAX_TOKENS, d))
            )
            self.embedding_dropout = nn.Dropout(DROPOUT)
            self.encoder = nn.ModuleList(
                nn.TransformerEncoderLayer(**block) for _ in range(args.layers)
            )
            self.decoder = nn.ModuleList(
                nn.TransformerDecoderLayer(**block) for _ in range(args.layers)
            )
            for layer in (*self.encoder, *self.decoder):
                # Only the dropout between the two feed-forward Linears (linear2(dropout(relu(
                # linear1(x))))), which keraslab's FFN lacks; residual dropouts stay.
                layer.dropout = nn.Identity()
            self.encoder_norm = nn.LayerNorm(d, eps=1e-5)
            self.decoder_norm = nn.LayerNorm(d, eps=1e-5)
            self.output_bias = nn.Parameter(torch.zeros(args.vocab))

        def embed(self, ids, positions):
            x = self.embedding(ids) * math.sqrt(d) + positions[: ids.shape[1]]
            return self.embedding_dropout(x)

        def forward(self, source, target_in):
            source_pad, target_pad = source == PAD, target_in == PAD  # True = ignore this key
            t = target_in.shape[1]
            causal = torch.ones(t, t, dtype=torch.bool).triu(1)  # True = future, not attended
            x = self.embed(source, self.source_positions)
            for layer in self.encoder:
                x = layer(x, src_key_padding_mask=source_pad)
            memory = self.encoder_norm(x)
            y = self.embed(target_in, self.target_positions)
            for layer in self.decoder:
                y = layer(
                    y,
                    memory,
                    tgt_mask=causal,
                    tgt_key_padding_mask=target_pad,
                    memory_key_padding_mask=source_pad,
                )
            return F.linear(self.decoder_norm(y), self.embedding.weight, self.output_bias)

    return Translator()


def _torch_loss(logits, labels):
    import torch.nn.functional as F

    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        labels.reshape(-1),
        ignore_index=PAD,
        label_smoothing=LABEL_SMOOTHING,
    )


def run_torch(args):
    import torch

    labels, logits = _loss_check_case()
    loss = float(_torch_loss(torch.from_numpy(logits), torch.from_numpy(labels).long()))
    assert abs(loss - _keraslab_loss(labels, logits)) < 1e-5, (loss, _keraslab_loss(labels, logits))

    torch.manual_seed(0)
    model = build_torch_translator(args)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), 1e-3, betas=(0.9, 0.98), eps=1e-9)
    source, target_in, target_out, tokens = (torch.from_numpy(a).long() for a in _data(args))
    with torch.no_grad():
        assert model(source[0, :2], target_in[0, :2]).shape == (2, args.length, args.vocab)
    stamps = []
    for step in range(_total_steps(args)):
        logits = model(source[step], target_in[step])
        loss = _torch_loss(logits, target_out[step])
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():  # the masked accuracy keraslab logs every step
            mask = target_out[step] != PAD
            accuracy = ((logits.argmax(-1) == target_out[step]) & mask).sum() / mask.sum()
        float(loss.detach()), float(accuracy)  # the same per-step host read as the callback
        stamps.append(time.perf_counter())
    return params, *_windows(stamps, tokens.numpy(), args.warmup, args.steps, args.windows)


def worker(args):
    run = run_torch if args.worker == "torch" else run_keras
    params, median, tokens_median, rates = run(args)
    print(
        "RESULT "
        + json.dumps(
            {"params": params, "median": median, "tokens": tokens_median, "windows": rates}
        )
    )


def spawn(kind, backend, args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend:
        env["KERAS_BACKEND"] = backend
    cmd = [sys.executable, __file__, "--worker", kind]
    for opt in WORKER_OPTIONS:
        cmd += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{kind}/{backend} failed:\n{out.stderr[-3000:]}")


def _version(*packages):
    for package in packages:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return "not installed"


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--worker", choices=("torch", "keras"), help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=10, help="steps per timed window")
    p.add_argument("--windows", type=int, default=3, help="timed windows (median reported)")
    p.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="untimed steps before the first window, plus one (compilation)",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--length", type=int, default=48, help="source and target length (padded)")
    p.add_argument("--layers", type=int, default=2, help="encoder blocks, and decoder blocks")
    p.add_argument("--dim", type=int, default=256, help="model width (embedding_dim)")
    p.add_argument("--ff", type=int, default=1024, help="feed-forward width (intermediate_dim)")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--vocab", type=int, default=8000, help="shared vocabulary size (>= 100)")
    p.add_argument(
        "--backends", default="jax,tensorflow,torch", help="comma-separated Keras backends"
    )
    args = p.parse_args()
    if min(args.steps, args.windows, args.batch_size, args.layers, args.dim, args.ff) < 1:
        p.error("--steps, --windows, --batch-size, --layers, --dim and --ff must be >= 1.")
    if args.warmup < 0:
        p.error("--warmup must be >= 0.")
    if not 2 <= args.length <= MAX_TOKENS:
        p.error(f"--length must be in 2 .. {MAX_TOKENS} (the recipe's sequence_length).")
    if args.heads < 1 or args.dim % args.heads:
        p.error("--dim must be divisible by --heads (>= 1).")
    if args.vocab < 100:
        p.error("--vocab must be at least 100 (the recipe's minimum).")
    if args.worker:
        return worker(args)

    configs = [("plain PyTorch (reference)", "torch", None)]
    for b in args.backends.split(","):
        configs.append((f"keraslab / {b.strip()}", "keras", b.strip()))
    results = []
    for label, kind, backend in configs:
        r = spawn(kind, backend, args)
        results.append((label, r))
        print(
            f"{label}: {r['median']:.3f} steps/s (windows {', '.join(f'{w:.3f}' for w in r['windows'])}), "
            f"{r['tokens']:.0f} tokens/s, {r['params']} parameters",
            file=sys.stderr,
        )
    counts = {label: r["params"] for label, r in results}
    assert len(set(counts.values())) == 1, f"parameter counts differ: {counts}"

    ref = results[0][1]
    mean_tokens = float(np.mean(_data(args)[3]))
    print(
        f"\nTransformer translator (keraslab recipe defaults: pre-norm, learned positions, tied "
        f"embeddings, label smoothing {LABEL_SMOOTHING:g}, dropout {DROPOUT:g}), "
        f"{args.layers}+{args.layers} layers, width {args.dim}, {args.heads} heads, "
        f"feed-forward {args.ff}, vocabulary {args.vocab}, batch {args.batch_size} x length "
        f"{args.length} (~{mean_tokens:.0f} real source+target tokens per batch), "
        f"{ref['params']:,} parameters (keraslab and PyTorch equal), "
        f"{time.strftime('%Y-%m-%d')}, {platform.platform()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, torch {_version('torch')}, "
        f"keras {_version('keras')}, jax {_version('jax')}, "
        f"tensorflow {_version('tensorflow', 'tensorflow-cpu')}\n"
    )
    print(
        f"| configuration | steps/s (median of {args.windows} windows x {args.steps} steps) "
        "| tokens/s | ratio vs plain PyTorch |"
    )
    print("|---|---|---|---|")
    for label, r in results:
        print(
            f"| {label} | {r['median']:.3f} | {r['tokens']:.0f} | {r['median'] / ref['median']:.2f} |"
        )


if __name__ == "__main__":
    main()
