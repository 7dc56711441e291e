"""Recipe ``bert-mlm``: masked-LM pretraining of a small BERT-style encoder on unlabelled text
(the training tweets by default, Austen paragraphs, or your own text file), optionally with the
next-sentence task. Its encoder then initialises ``keraslab train text-classifier --init RUN``.

Masking is dynamic (RoBERTa): each epoch draws new masked positions. Validation: masked-LM loss
and accuracy on held-out texts with a fixed mask. A run holds ``tokenizer.json`` (BPE with
``[CLS] [SEP] [MASK]``), ``metrics.jsonl`` and checkpoints.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import keras
import numpy as np

from keraslab.callbacks import Checkpoint, MetricsLog
from keraslab.checkpoint import load_run_checkpoint
from keraslab.data import DataSourceMissing
from keraslab.data.text import (
    BERT_SPECIAL_TOKENS,
    MASK,
    SubwordTokenizer,
    bert_sequences,
    pad_batch,
    sentence_pairs,
)
from keraslab.engine.seeding import set_seed
from keraslab.errors import UserError
from keraslab.io import write_json
from keraslab.models.bert import BertPretrainer, gather_masked, mask_tokens
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

NAME = "bert-mlm"


@dataclass
class Config(Settings):
    """Settings of a bert-mlm run (all saved in config.json)."""

    dataset: str = "tweets"
    text: str | None = None  # a user's UTF-8 text file: one document per paragraph
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 5e-4
    warmup_steps: int = 300
    weight_decay: float = 0.01
    seed: int = 0
    vocab_size: int = 8000
    sequence_length: int = 64
    embedding_dim: int = 128
    num_heads: int = 4
    intermediate_dim: int = 512
    layers: int = 2
    dropout: float = 0.1
    next_sentence: bool = False
    mask_rate: float = 0.15

    _positive = (
        "epochs",
        "batch_size",
        "vocab_size",
        "sequence_length",
        "embedding_dim",
        "num_heads",
        "intermediate_dim",
        "layers",
    )

    def validate(self) -> None:
        self.check_positive()
        self.check_heads()
        if self.sequence_length < 8:
            raise UserError(f"--sequence-length must be at least 8, got {self.sequence_length}.")
        if not 0 <= self.dropout < 1 or not 0 < self.mask_rate < 1:
            raise UserError("--dropout must be in [0, 1) and the mask rate in (0, 1).")
        if not self.learning_rate > 0:
            raise UserError(f"--learning-rate must be > 0, got {self.learning_rate}.")

    def backbone_args(self, vocabulary_size: int) -> dict:
        return dict(
            vocabulary_size=vocabulary_size,
            sequence_length=self.sequence_length,
            embedding_dim=self.embedding_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            num_layers=self.layers,
            dropout=self.dropout,
        )


# ---- data ------------------------------------------------------------------------------------
def load_texts(config: Config) -> tuple[list[str], list[str], list[str], str]:
    """``(train, val, test, description)`` documents (tweets, or paragraphs of a text)."""
    try:
        if config.text or config.dataset == "austen":
            from keraslab.data.corpus import load_text_corpus

            corpus = load_text_corpus(config.text if config.text else "austen")

            def paragraphs(t):
                return [p.strip() for p in t.split("\n\n") if len(p.strip().split()) >= 3]

            return (
                paragraphs(corpus.train),
                paragraphs(corpus.val),
                paragraphs(corpus.test),
                corpus.split,
            )
        from keraslab.data.sentiment import load_sentiment

        data = load_sentiment("tweets")  # the labels are not used: unlabelled pretraining
        return data.train_texts, data.val_texts, data.test_texts, data.split
    except DataSourceMissing as e:
        raise UserError(str(e)) from None


def _bucket(length: int, limit: int) -> int:
    return min(-(-length // 16) * 16, limit)  # few shapes: few JAX compilations


class MaskedBatches(keras.utils.PyDataset):
    """Batches ``((inputs, segments, positions), (labels, weights[, is_next]))`` with a fresh mask
    per epoch (batch ``i`` of epoch ``e`` drawn from ``seed, e, i``: a resumed run sees the same
    masks). Texts of similar length are batched together (sorted within chunks of 20 batches,
    then the batches shuffled), each batch padded to a multiple of 16 tokens; labels are kept at
    the chosen positions only (at most ``ceil(1.5 * rate * length)`` per text)."""

    def __init__(
        self,
        ids,
        segments,
        is_next,
        batch_size,
        mask_id,
        vocabulary_size,
        special_ids,
        sequence_length,
        rate=0.15,
        seed=0,
        shuffle=True,
    ):
        super().__init__()
        self.ids, self.segments, self.is_next = ids, segments, is_next
        self.batch_size, self.mask_id, self.vocabulary_size = batch_size, mask_id, vocabulary_size
        self.special_ids, self.length, self.rate = tuple(special_ids), sequence_length, rate
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0

    def __len__(self):
        return math.ceil(len(self.ids) / self.batch_size)

    def _plan(self):
        if getattr(self, "_planned", None) == self.epoch:
            return self._batches
        n, size = len(self.ids), self.batch_size
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            order = rng.permutation(n)
            chunk = size * 20
            lengths = np.array([len(s) for s in self.ids])
            order = np.concatenate(
                [
                    c[np.argsort(lengths[c], kind="stable")]
                    for c in np.split(order, range(chunk, n, chunk))
                ]
            )
            batches = [order[j : j + size] for j in range(0, n, size)]
            batches = [batches[j] for j in rng.permutation(len(batches))]
        else:
            batches = [np.arange(j, min(j + size, n)) for j in range(0, n, size)]
        self._batches, self._planned = batches, self.epoch
        return batches

    def __getitem__(self, i):
        rows = self._plan()[i]
        length = _bucket(max(len(self.ids[r]) for r in rows), self.length)
        ids = pad_batch([self.ids[r] for r in rows], length)
        seg = pad_batch([self.segments[r] for r in rows], length)
        rng = np.random.default_rng([self.seed, self.epoch if self.shuffle else 0, i, 1])
        inputs, labels, weights = mask_tokens(
            ids, rng, self.mask_id, self.vocabulary_size, self.special_ids, self.rate
        )
        most = math.ceil(1.5 * self.rate * length)
        inputs, positions, labels, weights = gather_masked(inputs, labels, weights, most)
        y = (labels, weights) if self.is_next is None else (labels, weights, self.is_next[rows])
        return (inputs, seg, positions), y

    def on_epoch_end(self):
        self.epoch += 1


def make_batches(tokenizer, texts, config: Config, seed: int, shuffle: bool) -> MaskedBatches:
    if config.next_sentence:
        try:
            ids, segments, is_next = sentence_pairs(
                tokenizer, texts, config.sequence_length, np.random.default_rng(seed)
            )
        except ValueError as e:
            raise UserError(f"--next-sentence: {e}") from None
    else:
        ids = bert_sequences(tokenizer, texts, config.sequence_length)
        segments, is_next = [[0] * len(s) for s in ids], None
    return MaskedBatches(
        ids,
        segments,
        is_next,
        config.batch_size,
        tokenizer.token_id(MASK),
        tokenizer.vocabulary_size,
        tokenizer.special_ids,
        config.sequence_length,
        config.mask_rate,
        seed,
        shuffle,
    )


def masked_lm_scores(model: BertPretrainer, batches: MaskedBatches) -> dict:
    """Masked-LM loss (nats), its perplexity and accuracy over all batches (no dropout)."""
    total, hits, count = 0.0, 0.0, 0.0
    for i in range(len(batches)):
        (inputs, seg, positions), y = batches[i]
        loss, acc, n = model.evaluate_loss(inputs, seg, y[0], y[1], positions)
        total, hits, count = total + loss * n, hits + acc * n, count + n
    loss = total / max(count, 1)
    return {
        "mlm_loss": loss,
        "mlm_perplexity": math.exp(loss),
        "mlm_accuracy": hits / max(count, 1),
        "masked_tokens": int(count),
    }


class Validation(keras.callbacks.Callback):
    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        s = masked_lm_scores(self.model, self.batches)
        logs["val_mlm_loss"], logs["val_mlm_accuracy"] = s["mlm_loss"], s["mlm_accuracy"]
        print(
            f"\nepoch {epoch + 1}: val masked-LM loss {s['mlm_loss']:.3f} "
            f"(perplexity {s['mlm_perplexity']:.1f}), accuracy {s['mlm_accuracy']:.3f}"
        )


# ---- model -----------------------------------------------------------------------------------
def build_model(config: Config, vocabulary_size: int, steps: int) -> BertPretrainer:
    model = BertPretrainer(
        next_sentence=config.next_sentence, **config.backbone_args(vocabulary_size)
    )
    warmup = min(config.warmup_steps, max(steps - 1, 1))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(steps - warmup, 1),
        alpha=0.1,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(optimizers={"mlm": optimizer})
    return model


def check_run(run: Run) -> None:
    require_recipe(run, NAME)


def _steps(config: Config, n_texts: int) -> int:
    return config.epochs * math.ceil(n_texts / config.batch_size)


def train(config: Config, out: str = "runs", verbose: int = 1, echo=print) -> dict:
    """Pretrain a new encoder under ``out``; returns the summary (also summary.json)."""
    config.validate()
    train_texts, val_texts, test_texts, split = load_texts(config)
    run = new_run(out, NAME, {**asdict(config), "backend": keras.backend.backend()})
    echo(f"run directory: {run.path}")
    echo(f"texts: {split}")
    tokenizer = SubwordTokenizer.train(
        train_texts, vocabulary_size=config.vocab_size, extra_special_tokens=BERT_SPECIAL_TOKENS
    )
    tokenizer.save(run.path / "tokenizer.json")
    set_seed(config.seed)
    model = build_model(config, tokenizer.vocabulary_size, _steps(config, len(train_texts)))
    echo(f"model: {model.count_params():,} parameters, vocabulary {tokenizer.vocabulary_size}")
    return _fit(run, config, model, tokenizer, train_texts, val_texts, 0, verbose, echo)


def resume(run_path: str, epochs: int | None = None, verbose: int = 1, echo=print) -> dict:
    run, config = reopen_run(run_path, NAME, Config, epochs)
    train_texts, val_texts, _, _ = load_texts(config)
    model, tokenizer, header = _restore(run, config, "last", len(train_texts))
    done = header["epoch"]
    continue_run(run, done, config.epochs, epochs, echo)
    best = header["meta"].get("best")
    return _fit(run, config, model, tokenizer, train_texts, val_texts, done, verbose, echo, best)


def _fit(run, config, model, tokenizer, train_texts, val_texts, initial, verbose, echo, best=None):
    batches = make_batches(tokenizer, train_texts, config, config.seed, shuffle=True)
    batches.epoch = initial
    val = make_batches(tokenizer, val_texts, config, config.seed + 1, shuffle=False)
    echo(f"pretraining on {len(batches.ids):,} texts in {len(batches)} batches per epoch")
    callbacks = [
        Validation(val),
        MetricsLog(run.metrics_path),
        Checkpoint(run.checkpoints, monitor="val_mlm_loss", mode="min", best=best),
    ]
    t0 = time.time()
    model.fit(
        batches, epochs=config.epochs, initial_epoch=initial, verbose=verbose, callbacks=callbacks
    )
    seconds = time.time() - t0
    summary = {
        "epochs": config.epochs,
        "train_seconds_this_session": round(seconds, 1),
        "backend": keras.backend.backend(),
        "parameters": int(model.count_params()),
    }
    rows = run.metrics()
    if rows:
        summary.update(
            {k: rows[-1][k] for k in ("val_mlm_loss", "val_mlm_accuracy") if k in rows[-1]}
        )
        from keraslab.plots import save_curve

        summary["val_mlm_loss_curve"] = str(
            save_curve(rows, "val_mlm_loss", run.path / "val_mlm_loss_curve.png")
        )
    write_json(run.summary_path, summary)
    echo(f"run directory: {run.path}")
    return summary


def _restore(run: Run, config: Config, which: str, n_texts: int = 1):
    tokenizer = load_run_tokenizer(run, SubwordTokenizer.load)
    set_seed(config.seed)
    model = build_model(config, tokenizer.vocabulary_size, _steps(config, n_texts))
    header = load_run_checkpoint(model, run, which)
    return model, tokenizer, header


def load_model(run: Run, which: str = "last"):
    """``(model, config, tokenizer)`` of a bert-mlm run."""
    check_run(run)
    config = Config.from_dict(run.config)
    model, tokenizer, _ = _restore(run, config, which)
    return model, config, tokenizer


def evaluate(run_path: str, which: str = "last", n: int | None = None, echo=print, **options):
    """Masked-LM loss, perplexity and accuracy on the held-out test texts (fixed mask)."""
    reject_options(NAME, options)
    run = open_run(run_path)
    check_run(run)
    model, config, tokenizer = load_model(run, which)
    _, _, test_texts, split = load_texts(config)
    test_texts = test_texts if n is None else test_texts[:n]
    result = masked_lm_scores(model, make_batches(tokenizer, test_texts, config, 12345, False))
    result.update({"checkpoint": which, "texts": len(test_texts), "split": split})
    save_evaluation(run, f"test-{which}-{len(test_texts)}", result)
    return result


def format_evaluation(r: dict) -> str:
    return (
        f"test masked-LM loss {r['mlm_loss']:.3f} (perplexity {r['mlm_perplexity']:.1f}), "
        f"accuracy {r['mlm_accuracy']:.3f} on {r['masked_tokens']:,} masked tokens "
        f"({r['texts']:,} texts, {r['checkpoint']} checkpoint)"
    )


def sample(*args, **kwargs):
    raise UserError(
        "a bert-mlm run has no images to sample: fine-tune it with "
        "`keraslab train text-classifier --init RUN`."
    )
