"""Recipe ``gpt``: a mini GPT trained on Jane Austen's novels (or your own text file), at the
character or subword level; validation loss and perplexity every epoch, a sample printed and
saved each epoch, and ``keraslab generate RUN --prompt "..."`` afterwards.

Training follows nanoGPT: each epoch draws ``steps_per_epoch`` batches of random windows from the
training text; AdamW with linear warm-up and cosine decay. The held-out text is the end of each
novel: 5% validation, then 5% test (:func:`keraslab.data.corpus.load_text_corpus`).

A run holds ``tokenizer.json``, ``samples/epoch_NNN.txt``, ``metrics.jsonl`` (``val_loss`` in
nats per token, ``val_perplexity``, ``val_bpc`` bits per character) and checkpoints.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from keraslab.callbacks import Checkpoint, MetricsLog
from keraslab.checkpoint import load_run_checkpoint
from keraslab.data import DataSourceMissing
from keraslab.data.corpus import CharTokenizer, load_text_corpus, sequential_windows
from keraslab.data.text import SubwordTokenizer
from keraslab.engine.seeding import set_seed
from keraslab.errors import UserError
from keraslab.io import atomic_path, write_json
from keraslab.models.gpt import GPT
from keraslab.recipes.settings import Settings
from keraslab.runs import (
    Run,
    continue_run,
    load_run_tokenizer,
    new_run,
    open_run,
    reject_options,
    reopen_run,
    require_recipe,
    save_evaluation,
)

NAME = "gpt"


@dataclass
class Config(Settings):
    """Settings of a GPT run (all saved in config.json)."""

    dataset: str = "austen"
    text: str | None = None  # a user's UTF-8 text file (replaces Austen)
    level: str = "char"  # "char" or "subword" (BPE)
    vocab_size: int = 2000  # subword level only
    epochs: int = 10
    steps_per_epoch: int = 500
    batch_size: int = 32
    sequence_length: int = 128
    embedding_dim: int = 128
    num_heads: int = 4
    layers: int = 4
    dropout: float = 0.1
    tie_weights: bool = True
    learning_rate: float = 1e-3  # peak; cosine decay to min_learning_rate
    min_learning_rate: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    seed: int = 0
    prompt: str = "It is a truth"  # sample printed after each epoch
    sample_tokens: int = 200
    temperature: float = 0.8
    top_k: int | None = 40
    val_tokens: int = 100_000  # validation tokens scored after each epoch (0: all)

    _positive = (
        "epochs",
        "steps_per_epoch",
        "batch_size",
        "sequence_length",
        "embedding_dim",
        "num_heads",
        "layers",
        "sample_tokens",
        "vocab_size",
    )

    def validate(self) -> None:
        self.check_positive()
        if self.level not in ("char", "subword"):
            raise UserError(f"--level must be 'char' or 'subword', got {self.level!r}.")
        self.check_heads()
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1), got {self.dropout}.")
        if not self.learning_rate > 0:
            raise UserError(f"--learning-rate must be > 0, got {self.learning_rate}.")
        if not self.prompt:
            raise UserError("the epoch-sample prompt is empty: give --prompt some text.")


# ---- data ------------------------------------------------------------------------------------
def load_corpus(config: Config):
    try:
        return load_text_corpus(config.text if config.text else config.dataset)
    except DataSourceMissing as e:
        raise UserError(str(e)) from None


def make_tokenizer(config: Config, corpus):
    if config.level == "char":
        # Every split's characters: a '£' only in the held-out text must not break evaluation.
        return CharTokenizer.from_text([corpus.train, corpus.val, corpus.test])
    return SubwordTokenizer.train(_paragraphs(corpus.train), vocabulary_size=config.vocab_size)


def _paragraphs(text: str) -> list[str]:
    return [p + "\n\n" for p in text.split("\n\n") if p.strip()]


def encode_text(tokenizer, text: str) -> np.ndarray:
    """The whole text as one int32 id stream."""
    if isinstance(tokenizer, CharTokenizer):
        return tokenizer.encode_array(text)
    parts = tokenizer.encode_batch(_paragraphs(text))
    return np.fromiter((i for p in parts for i in p), dtype="int32")


def load_tokenizer(run: Run, level: str):
    """The run's character or subword tokenizer."""
    return load_run_tokenizer(run, CharTokenizer.load if level == "char" else SubwordTokenizer.load)


class WindowBatches(keras.utils.PyDataset):
    """``steps`` batches of random windows ``(x, y = x shifted by one)`` per epoch, reproducible:
    batch ``i`` of epoch ``e`` comes from ``seed, e, i`` (so a resumed run sees the same data)."""

    def __init__(self, ids, sequence_length, batch_size, steps, seed=0):
        super().__init__()
        self.ids, self.length = np.asarray(ids, "int32"), int(sequence_length)
        self.batch_size, self.steps, self.seed, self.epoch = batch_size, steps, seed, 0
        if len(self.ids) <= self.length:
            raise UserError(
                f"the training text has {len(self.ids)} tokens: it needs more than "
                f"--sequence-length {self.length}."
            )

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        starts = rng.integers(0, len(self.ids) - self.length, self.batch_size)
        idx = starts[:, None] + np.arange(self.length + 1)
        windows = self.ids[idx]
        return windows[:, :-1], windows[:, 1:]

    def on_epoch_end(self):
        self.epoch += 1


def score_text(model: GPT, ids: np.ndarray, chars: int, batch_size: int = 64) -> dict:
    """Mean next-token loss (nats), perplexity and bits per character of an id stream, read in
    consecutive windows of the model's context length."""
    x, y = sequential_windows(ids, model.sequence_length)
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        nll, n = model.evaluate_loss(x[i : i + batch_size], y[i : i + batch_size])
        total += nll
        count += n
    loss = total / count
    # Characters covered by the scored tokens (a subword covers several characters).
    covered = chars * count / max(len(ids) - 1, 1)
    return {
        "loss": loss,
        "perplexity": math.exp(loss),
        "bpc": total / covered / math.log(2),
        "tokens": count,
    }


class EpochReport(keras.callbacks.Callback):
    """After each epoch: validation loss / perplexity / bits per character, and a sample from
    the prompt printed and saved to ``samples/epoch_NNN.txt`` (as in the course's callback)."""

    def __init__(self, tokenizer, val_ids, val_chars, config: Config, samples_dir):
        super().__init__()
        self.tokenizer, self.config = tokenizer, config
        limit = config.val_tokens or len(val_ids)
        self.val_ids = val_ids[: limit + 1]
        self.val_chars = val_chars * len(self.val_ids) / max(len(val_ids), 1)
        self.samples_dir = Path(samples_dir)
        self.prompt = encode_prompt(tokenizer, config.prompt)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        s = score_text(self.model, self.val_ids, self.val_chars)
        logs["val_loss"], logs["val_perplexity"], logs["val_bpc"] = (
            s["loss"],
            s["perplexity"],
            s["bpc"],
        )
        c = self.config
        new = self.model.generate(
            [self.prompt], c.sample_tokens, temperature=c.temperature, top_k=c.top_k, seed=epoch
        )[0]
        text = c.prompt + self.tokenizer.decode(new)
        path = self.samples_dir / f"epoch_{epoch + 1:03d}.txt"
        with atomic_path(path) as tmp:
            tmp.write_text(
                f"epoch {epoch + 1}: val loss {s['loss']:.4f} nats/token, perplexity "
                f"{s['perplexity']:.2f}, {s['bpc']:.3f} bits/char\n\n{text}\n",
                encoding="utf-8",
            )
        print(
            f"\nepoch {epoch + 1}: val loss {s['loss']:.4f}, perplexity {s['perplexity']:.2f}, "
            f"{s['bpc']:.3f} bits/char\n--- sample ---\n{text}\n--------------",
            file=sys.stderr,
        )


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    if not prompt or not prompt.strip():
        raise UserError('the prompt is empty: give some text to continue, e.g. --prompt "It is".')
    if isinstance(tokenizer, CharTokenizer):
        return tokenizer.encode(prompt, what="prompt")
    ids = tokenizer.encode(prompt)
    if not ids:
        raise UserError("the prompt encodes to no tokens: give some text to continue.")
    return ids


# ---- model -----------------------------------------------------------------------------------
def build_model(config: Config, vocabulary_size: int) -> GPT:
    model = GPT(
        vocabulary_size,
        sequence_length=config.sequence_length,
        embedding_dim=config.embedding_dim,
        num_heads=config.num_heads,
        num_layers=config.layers,
        dropout=config.dropout,
        tie_weights=config.tie_weights,
    )
    total = config.epochs * config.steps_per_epoch
    warmup = min(config.warmup_steps, max(total - 1, 0))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(total - warmup, 1),
        alpha=config.min_learning_rate / config.learning_rate,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(
        schedule, weight_decay=config.weight_decay, beta_1=0.9, beta_2=0.99
    )
    # As nanoGPT: no weight decay on biases, norms and embeddings.
    optimizer.exclude_from_weight_decay(
        var_names=["bias", "gamma", "beta", "embeddings", "position_embeddings"]
    )
    model.compile(optimizers={"gpt": optimizer})
    return model


# ---- runs ------------------------------------------------------------------------------------
def check_run(run: Run) -> None:
    require_recipe(run, NAME)


def train(config: Config, out: str = "runs", verbose: int = 1, echo=print) -> dict:
    """Train a new GPT run under ``out``; returns the summary (also summary.json)."""
    config.validate()
    corpus = load_corpus(config)  # before creating anything: a missing source writes nothing
    run = new_run(out, NAME, {**asdict(config), "backend": keras.backend.backend()})
    echo(f"run directory: {run.path}")
    echo(f"text: {corpus.split}")
    tokenizer = make_tokenizer(config, corpus)
    encode_prompt(tokenizer, config.prompt)  # an unusable prompt fails before training
    tokenizer.save(run.path / "tokenizer.json")
    set_seed(config.seed)
    model = build_model(config, tokenizer.vocabulary_size)
    echo(f"model: {model.count_params():,} parameters, vocabulary {tokenizer.vocabulary_size}")
    return _fit(run, config, model, tokenizer, corpus, 0, verbose, echo)


def resume(run_path: str, epochs: int | None = None, verbose: int = 1, echo=print) -> dict:
    """Continue a run from its newest checkpoint (weights, optimizer, epoch)."""
    run, config = reopen_run(run_path, NAME, Config, epochs)
    corpus = load_corpus(config)
    model, tokenizer, header = _restore(run, config, "last")
    done = header["epoch"]
    continue_run(run, done, config.epochs, epochs, echo)
    return _fit(
        run, config, model, tokenizer, corpus, done, verbose, echo, best=header["meta"].get("best")
    )


def _fit(run, config, model, tokenizer, corpus, initial_epoch, verbose, echo, best=None) -> dict:
    train_ids = encode_text(tokenizer, corpus.train)
    val_ids = encode_text(tokenizer, corpus.val)
    batches = WindowBatches(
        train_ids, config.sequence_length, config.batch_size, config.steps_per_epoch, config.seed
    )
    batches.epoch = initial_epoch
    echo(
        f"training on {len(train_ids):,} tokens ({len(corpus.train):,} characters); "
        f"{config.steps_per_epoch} batches of {config.batch_size} x {config.sequence_length} per epoch"
    )
    callbacks = [
        EpochReport(tokenizer, val_ids, len(corpus.val), config, run.samples),
        MetricsLog(run.metrics_path),
        Checkpoint(run.checkpoints, monitor="val_loss", mode="min", best=best),
    ]
    t0 = time.time()
    model.fit(
        batches,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        verbose=verbose,
        callbacks=callbacks,
    )
    seconds = time.time() - t0
    tokens = (config.epochs - initial_epoch) * config.steps_per_epoch * config.batch_size
    tokens *= config.sequence_length
    summary = {
        "epochs": config.epochs,
        "train_seconds_this_session": round(seconds, 1),
        "train_tokens_per_second": round(tokens / max(seconds, 1e-9), 1),
        "backend": keras.backend.backend(),
        "parameters": int(model.count_params()),
        "vocabulary_size": tokenizer.vocabulary_size,
    }
    rows = run.metrics()
    if rows:
        last = rows[-1]
        summary.update({k: last[k] for k in ("val_loss", "val_perplexity", "val_bpc") if k in last})
    if any("val_loss" in r for r in rows):
        from keraslab.plots import save_curve

        summary["val_loss_curve"] = str(
            save_curve(rows, "val_loss", run.path / "val_loss_curve.png")
        )
    write_json(run.summary_path, summary)
    echo(
        f"val loss {summary.get('val_loss', float('nan')):.4f} nats/token, perplexity "
        f"{summary.get('val_perplexity', float('nan')):.2f}; run directory: {run.path}"
    )
    return summary


def _restore(run: Run, config: Config, which: str):
    tokenizer = load_tokenizer(run, config.level)
    set_seed(config.seed)
    model = build_model(config, tokenizer.vocabulary_size)
    header = load_run_checkpoint(model, run, which)
    return model, tokenizer, header


def load_model(run: Run, which: str = "last"):
    """``(model, config, tokenizer)`` of a GPT run."""
    check_run(run)
    config = Config.from_dict(run.config)
    model, tokenizer, _ = _restore(run, config, which)
    return model, config, tokenizer


def generate(
    run_path: str,
    prompt: str,
    max_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    n: int = 1,
    use_cache: bool = True,
    which: str = "last",
    progress=None,
) -> list[str]:
    """``n`` continuations of ``prompt`` (each returned with the prompt in front)."""
    run = open_run(run_path)
    check_run(run)
    if temperature < 0:
        raise UserError(f"--temperature must be >= 0 (0: greedy), got {temperature}.")
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k must be a positive integer, got {top_k}.")
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1], got {top_p}.")
    config = Config.from_dict(run.config)
    tokenizer = load_tokenizer(run, config.level)
    ids = encode_prompt(tokenizer, prompt)  # before loading weights: bad prompts fail fast
    model, _, tokenizer = load_model(run, which)
    new = model.generate(
        [ids] * n,
        max_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        use_cache=use_cache,
        callback=progress,
    )
    return [prompt + tokenizer.decode(row) for row in new]


def evaluate(run_path: str, which: str = "last", echo=print, **options) -> dict:
    """Loss, perplexity and bits per character on the held-out test text (evaluation.json)."""
    options.pop("n", None)
    reject_options(NAME, options)
    run = open_run(run_path)
    check_run(run)
    model, config, tokenizer = load_model(run, which)
    corpus = load_corpus(config)
    ids = encode_text(tokenizer, corpus.test)
    echo(f"scoring {len(ids):,} test tokens ...")
    result = score_text(model, ids, len(corpus.test))
    result.update({"checkpoint": which, "split": corpus.split, "level": config.level})
    save_evaluation(run, f"test-{which}", result)
    return result


def format_evaluation(r: dict) -> str:
    return (
        f"test loss {r['loss']:.4f} nats/token, perplexity {r['perplexity']:.2f}, "
        f"{r['bpc']:.3f} bits/char ({r['tokens']:,} {r['level']} tokens, {r['checkpoint']} checkpoint)"
    )


def sample(*args, **kwargs):
    raise UserError('a gpt run makes text, not images: use `keraslab generate RUN --prompt "..."`.')
