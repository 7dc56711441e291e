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
from pathlib import Path

import keras
import numpy as np

from keraslab.data.batches import WindowBatches
from keraslab.data.corpus import CharTokenizer, load_text_corpus, sequential_windows
from keraslab.data.text import SubwordTokenizer
from keraslab.errors import UserError
from keraslab.io import atomic_path
from keraslab.models.gpt import GPT
from keraslab.recipes.base import Job, Recipe
from keraslab.recipes.specs.commands import GenerateOptions
from keraslab.recipes.specs.gpt import Config
from keraslab.runs import Run, load_run_tokenizer


# ---- data ------------------------------------------------------------------------------------
def load_corpus(config: Config):
    return load_text_corpus(config.text if config.text else config.dataset)


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


def score_text(model: GPT, ids: np.ndarray, chars: int, batch_size: int = 64) -> dict:
    """Mean next-token loss (nats), perplexity and bits per character of an id stream, read in
    consecutive windows of the model's context length."""
    x, y = sequential_windows(ids, model.sequence_length)
    # Keras's evaluate: the phase loss without dropout, a mean over the counted tokens.
    loss = model.evaluate(x, y, batch_size=batch_size, return_dict=True, verbose=0)["gpt_loss"]
    count = int(y.size if model.pad_id is None else np.sum(y != model.pad_id))
    total = loss * count
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


# ---- the recipe ------------------------------------------------------------------------------
class GPTRecipe(Recipe):
    model_parallel = True
    name = "gpt"
    Config = Config
    monitor = "val_loss"
    reported = ("val_loss", "val_perplexity", "val_bpc")
    curves = ("val_loss",)

    def load_data(self, config: Config):
        return load_corpus(config)

    def make_assets(self, job: Job):
        job.echo(f"text: {job.data.split}")
        tokenizer = make_tokenizer(job.config, job.data)
        encode_prompt(tokenizer, job.config.prompt)  # an unusable prompt fails before training
        tokenizer.save(job.run.path / "tokenizer.json")
        return tokenizer

    def load_assets(self, run: Run, config: Config):
        return load_tokenizer(run, config.level)

    def build_model(self, config: Config, assets=None, data=None) -> GPT:
        return build_model(config, assets.vocabulary_size)

    def initialize(self, job: Job) -> None:
        job.echo(
            f"model: {job.model.count_params():,} parameters, vocabulary "
            f"{job.assets.vocabulary_size}"
        )

    def fit_inputs(self, job: Job) -> dict:
        config, corpus = job.config, job.data
        train_ids = encode_text(job.assets, corpus.train)
        batches = WindowBatches(
            train_ids,
            config.sequence_length,
            config.batch_size,
            config.steps_per_epoch,
            config.seed,
        ).start_at(job.initial_epoch)
        job.echo(
            f"training on {len(train_ids):,} tokens ({len(corpus.train):,} characters); "
            f"{config.steps_per_epoch} batches of {config.batch_size} x "
            f"{config.sequence_length} per epoch"
        )
        return {"x": batches}

    def callbacks(self, job: Job) -> list:
        val_ids = encode_text(job.assets, job.data.val)
        return [EpochReport(job.assets, val_ids, len(job.data.val), job.config, job.run.samples)]

    def summarize(self, job: Job, seconds: float) -> dict:
        config = job.config
        tokens = (config.epochs - job.initial_epoch) * config.steps_per_epoch * config.batch_size
        tokens *= config.sequence_length
        summary = {
            "train_tokens_per_second": round(tokens / max(seconds, 1e-9), 1),
            "vocabulary_size": job.assets.vocabulary_size,
        }
        last = (job.run.metrics()[-1:] or [{}])[0]
        job.echo(
            f"val loss {last.get('val_loss', float('nan')):.4f} nats/token, perplexity "
            f"{last.get('val_perplexity', float('nan')):.2f}"
        )
        return summary

    def generate(
        self,
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
        run = self.open(run_path)
        GenerateOptions(
            which=which, prompt=prompt, max_tokens=max_tokens, temperature=temperature,
            top_k=top_k, top_p=top_p, seed=seed, n=n, use_cache=use_cache,
        ).validate()  # the ranges the CLI checks, for Python callers too  # fmt: skip
        config = self.config_from_run(run.config)
        ids = encode_prompt(load_tokenizer(run, config.level), prompt)  # bad prompts fail fast
        job = self.load(run, which)
        new = job.model.generate(
            [ids] * n,
            max_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            use_cache=use_cache,
            callback=progress,
        )
        return [prompt + job.assets.decode(row) for row in new]

    def evaluate(self, run_path: str, which: str = "last", echo=print) -> dict:
        """Loss, perplexity and bits per character on the held-out test text (evaluation.json)."""
        job = self.load(self.open(run_path), which)
        corpus = load_corpus(job.config)
        ids = encode_text(job.assets, corpus.test)
        echo(f"scoring {len(ids):,} test tokens ...")
        result = score_text(job.model, ids, len(corpus.test))
        result.update({"checkpoint": which, "split": corpus.split, "level": job.config.level})
        self.save_evaluation(job.run, f"test-{which}", result)
        return result

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return (
            f"test loss {r['loss']:.4f} nats/token, perplexity {r['perplexity']:.2f}, "
            f"{r['bpc']:.3f} bits/char ({r['tokens']:,} {r['level']} tokens, "
            f"{r['checkpoint']} checkpoint)"
        )


RECIPE = GPTRecipe()
