"""Recipe ``elmo``: pretrain ELMo's two LSTM language models (:class:`keraslab.models.elmo.ELMo`)
on unlabelled text -- the training tweets by default, Austen paragraphs, or your own text file --
then take its contextual vectors: ``keraslab embed RUN "text"``, or ``keraslab train
text-classifier --init RUN`` (a subword run).

Each text is one sequence: ``[CLS] subwords [SEP]`` (BPE, the tokenizer the text classifier
reads) or its characters (``--level char``), cut to ``--sequence-length``. After each epoch the
held-out texts give each direction's perplexity (``val_forward_perplexity``,
``val_backward_perplexity``); the best checkpoint is the lowest mean of the two losses.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from keraslab.data.batches import TextBatches
from keraslab.data.corpus import CharTokenizer
from keraslab.data.text import BERT_SPECIAL_TOKENS, SubwordTokenizer, bert_sequences, pad_batch
from keraslab.engine import no_grad
from keraslab.errors import UserError
from keraslab.io import atomic_path
from keraslab.models.elmo import ELMo
from keraslab.recipes.base import Job, Recipe
from keraslab.recipes.bert_mlm import load_texts
from keraslab.recipes.specs.elmo import Config
from keraslab.runs import Run, load_run_tokenizer, refuse_to_overwrite


# ---- data ------------------------------------------------------------------------------------
def make_tokenizer(config: Config, data):
    train, val, test, _ = data
    if config.level == "char":
        return CharTokenizer.from_text(["".join(train), "".join(val), "".join(test)])
    return SubwordTokenizer.train(
        train, vocabulary_size=config.vocab_size, extra_special_tokens=BERT_SPECIAL_TOKENS
    )


def load_tokenizer(run: Run, level: str):
    return load_run_tokenizer(run, CharTokenizer.load if level == "char" else SubwordTokenizer.load)


def sequences(tokenizer, texts, sequence_length: int, what: str = "text") -> list[list[int]]:
    """Id lists of ``texts``: ``[CLS] .. [SEP]`` subwords, or characters; one-line errors for
    an empty text or (characters) one the run never saw."""
    texts = list(texts)
    for i, t in enumerate(texts):
        if not t.strip():
            raise UserError(f"{what} {i + 1} is empty: give some text to embed.")
    if isinstance(tokenizer, CharTokenizer):
        return [tokenizer.encode(t, what=what)[:sequence_length] for t in texts]
    return bert_sequences(tokenizer, texts, sequence_length)


def encode(tokenizer, texts, sequence_length: int) -> np.ndarray:
    """``(n, sequence_length)`` right-padded ids of texts with 2+ tokens (shorter ones predict
    nothing and are dropped)."""
    ids = [s for s in sequences(tokenizer, texts, sequence_length) if len(s) >= 2]
    return pad_batch(ids, sequence_length)


def direction_scores(model: ELMo, ids: np.ndarray, batch_size: int = 128) -> dict:
    """Each direction's mean negative log-likelihood (nats per token) and perplexity."""
    forward = backward = 0.0
    count = 0
    batches = TextBatches(ids, batch_size, pad_id=model.pad_id)  # rows of similar length
    for i in range(len(batches)):
        f, b, n = model.evaluate_losses(batches[i])
        forward, backward, count = forward + f, backward + b, count + n
    fl, bl = forward / max(count, 1), backward / max(count, 1)
    return {
        "forward_loss": fl,
        "backward_loss": bl,
        "loss": (fl + bl) / 2,
        "forward_perplexity": math.exp(fl),
        "backward_perplexity": math.exp(bl),
        "tokens": count,
    }


class Validation(keras.callbacks.Callback):
    """Each direction's validation loss and perplexity after every epoch."""

    def __init__(self, ids):
        super().__init__()
        self.ids = ids

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        s = direction_scores(self.model, self.ids)
        logs["val_loss"] = s["loss"]
        for d in ("forward", "backward"):
            logs[f"val_{d}_loss"], logs[f"val_{d}_perplexity"] = (
                s[f"{d}_loss"],
                s[f"{d}_perplexity"],
            )
        print(
            f"\nepoch {epoch + 1}: val perplexity forward {s['forward_perplexity']:.1f}, "
            f"backward {s['backward_perplexity']:.1f}"
        )


# ---- model -----------------------------------------------------------------------------------
def build_model(config: Config, vocabulary_size: int, pad_id: int = 0) -> ELMo:
    model = ELMo(pad_id=pad_id, **config.bilm_args(vocabulary_size))
    model.compile(optimizers={"elmo": keras.optimizers.Adam(config.learning_rate, clipnorm=1.0)})
    return model


# ---- the recipe ------------------------------------------------------------------------------
class ELMoRecipe(Recipe):
    name = "elmo"
    Config = Config
    monitor = "val_loss"
    reported = ("val_forward_perplexity", "val_backward_perplexity")
    curves = ("val_forward_perplexity", "val_backward_perplexity")

    def load_data(self, config: Config):
        return load_texts(config)

    def make_assets(self, job: Job):
        job.echo(f"texts: {job.data[3]}")
        tokenizer = make_tokenizer(job.config, job.data)
        tokenizer.save(job.run.path / "tokenizer.json")
        return tokenizer

    def load_assets(self, run: Run, config: Config):
        return load_tokenizer(run, config.level)

    def build_model(self, config: Config, assets=None, data=None) -> ELMo:
        return build_model(config, assets.vocabulary_size, assets.pad_id)

    def initialize(self, job: Job) -> None:
        job.echo(
            f"model: {job.model.count_params():,} parameters, vocabulary "
            f"{job.assets.vocabulary_size}, {job.config.layers} LSTM layers per direction"
        )

    def fit_inputs(self, job: Job) -> dict:
        ids = encode(job.assets, job.data[0], job.config.sequence_length)
        if len(ids) == 0:
            raise UserError("no training text has two or more tokens: give longer texts.")
        batches = TextBatches(ids, job.config.batch_size, job.config.seed, job.assets.pad_id)
        job.echo(f"pretraining on {len(ids):,} texts in {len(batches)} batches per epoch")
        return {"x": batches.start_at(job.initial_epoch)}

    def callbacks(self, job: Job) -> list:
        return [Validation(encode(job.assets, job.data[1], job.config.sequence_length))]

    def evaluate(self, run_path: str, which: str = "last", n: int | None = None, echo=print):
        """Each direction's loss and perplexity on the held-out test texts."""
        job = self.load(self.open(run_path), which)
        _, _, test, split = load_texts(job.config)
        test = test if n is None else test[:n]
        result = direction_scores(job.model, encode(job.assets, test, job.config.sequence_length))
        result.update({"checkpoint": which, "texts": len(test), "split": split})
        self.save_evaluation(job.run, f"test-{which}-{len(test)}", result)
        return result

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return (
            f"test perplexity forward {r['forward_perplexity']:.1f}, backward "
            f"{r['backward_perplexity']:.1f} ({r['tokens']:,} tokens per direction, "
            f"{r['texts']:,} texts, {r['checkpoint']} checkpoint)"
        )

    def embed(
        self,
        run_path: str,
        texts,
        which: str = "last",
        layer: str = "mean",
        out: str | None = None,
        force: bool = False,
    ):
        """Contextual vectors of each text's tokens.

        Returns ``(tokens, vectors)``: per text its token strings, and an array ``(texts,
        tokens, 2 * dim)`` (``layer="all"``: ``(texts, L + 1, tokens, 2 * dim)``), zero after a
        text's end. With ``out`` the array is also saved there (``.npy``) and its path returned
        in place of the array.
        """
        run = self.open(run_path)
        config = self.config_from_run(run.config)
        if out is not None:
            refuse_to_overwrite(out, force)
        tokenizer = load_tokenizer(run, config.level)
        ids = sequences(tokenizer, texts, config.sequence_length)  # bad texts fail fast
        if layer not in ("mean", "all") and int(layer) > config.layers:
            raise UserError(
                f"--layer {layer}: this run has layers 0 .. {config.layers} (0: the tokens)."
            )
        model = self.load(run, which).model
        subword = not isinstance(tokenizer, CharTokenizer)
        width = max(len(s) for s in ids)
        with no_grad():
            layers = model.bilm.layer_outputs(pad_batch(ids, width, tokenizer.pad_id))
            stack = np.stack([keras.ops.convert_to_numpy(h) for h in layers], axis=1)
        if subword:  # drop [CLS] and [SEP]: the text's own tokens
            stack = stack[:, :, 1:]
            ids = [s[1:-1] for s in ids]
        stack = stack[:, :, : max(1, max(len(s) for s in ids))]
        for i, s in enumerate(ids):
            stack[i, :, len(s) :] = 0.0
        if layer == "mean":
            vectors = stack.mean(axis=1)
        elif layer == "all":
            vectors = stack
        else:
            vectors = stack[:, int(layer)]
        tokens = [[tokenizer.decode([t]) for t in s] for s in ids]
        vectors = vectors.astype("float32")
        if out is not None:
            with atomic_path(out, suffix=".npy") as tmp:
                np.save(tmp, vectors)
            return tokens, out
        return tokens, vectors


RECIPE = ELMoRecipe()
