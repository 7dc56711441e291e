"""Recipe ``bert-mlm``: masked-LM pretraining of a small BERT-style encoder on unlabelled text
(the training tweets by default, Austen paragraphs, or your own text file), optionally with the
next-sentence task. Its encoder then initialises ``keraslab train text-classifier --init RUN``.

Masking is dynamic (RoBERTa): each epoch draws new masked positions. Validation: masked-LM loss
and accuracy on held-out texts with a fixed mask. A run holds ``tokenizer.json`` (BPE with
``[CLS] [SEP] [MASK]``), ``metrics.jsonl`` and checkpoints.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from keraslab.data.batches import MaskedBatches
from keraslab.data.text import (
    BERT_SPECIAL_TOKENS,
    MASK,
    SubwordTokenizer,
    bert_sequences,
    sentence_pairs,
)
from keraslab.errors import UserError
from keraslab.models.bert import BertPretrainer
from keraslab.recipes.base import Job, Recipe
from keraslab.recipes.specs.bert_mlm import Config
from keraslab.runs import Run, load_run_tokenizer


# ---- data ------------------------------------------------------------------------------------
def load_texts(config: Config) -> tuple[list[str], list[str], list[str], str]:
    """``(train, val, test, description)`` documents (tweets, or paragraphs of a text)."""
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


def _steps(config: Config, n_texts: int) -> int:
    return config.epochs * math.ceil(n_texts / config.batch_size)


# ---- the recipe ------------------------------------------------------------------------------
class BertMLMRecipe(Recipe):
    model_parallel = True
    name = "bert-mlm"
    Config = Config
    monitor = "val_mlm_loss"
    reported = ("val_mlm_loss", "val_mlm_accuracy")
    curves = ("val_mlm_loss",)

    def load_data(self, config: Config):
        return load_texts(config)

    def make_assets(self, job: Job):
        train_texts, _, _, split = job.data
        job.echo(f"texts: {split}")
        tokenizer = SubwordTokenizer.train(
            train_texts,
            vocabulary_size=job.config.vocab_size,
            extra_special_tokens=BERT_SPECIAL_TOKENS,
        )
        tokenizer.save(job.run.path / "tokenizer.json")
        return tokenizer

    def load_assets(self, run: Run, config: Config):
        return load_run_tokenizer(run, SubwordTokenizer.load)

    def build_model(self, config: Config, assets=None, data=None) -> BertPretrainer:
        # The schedule spans the training texts' batches (1 when only loading for a command).
        steps = _steps(config, len(data[0]) if data else 1)
        return build_model(config, assets.vocabulary_size, steps)

    def initialize(self, job: Job) -> None:
        job.echo(
            f"model: {job.model.count_params():,} parameters, vocabulary "
            f"{job.assets.vocabulary_size}"
        )

    def fit_inputs(self, job: Job) -> dict:
        batches = make_batches(job.assets, job.data[0], job.config, job.config.seed, shuffle=True)
        batches.start_at(job.initial_epoch)
        job.echo(f"pretraining on {len(batches.ids):,} texts in {len(batches)} batches per epoch")
        return {"x": batches}

    def callbacks(self, job: Job) -> list:
        val = make_batches(job.assets, job.data[1], job.config, job.config.seed + 1, shuffle=False)
        return [Validation(val)]

    def evaluate(self, run_path: str, which: str = "last", n: int | None = None, echo=print):
        """Masked-LM loss, perplexity and accuracy on the held-out test texts (fixed mask)."""
        job = self.load(self.open(run_path), which)
        _, _, test_texts, split = load_texts(job.config)
        test_texts = test_texts if n is None else test_texts[:n]
        batches = make_batches(job.assets, test_texts, job.config, 12345, False)
        result = masked_lm_scores(job.model, batches)
        result.update({"checkpoint": which, "texts": len(test_texts), "split": split})
        self.save_evaluation(job.run, f"test-{which}-{len(test_texts)}", result)
        return result

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return (
            f"test masked-LM loss {r['mlm_loss']:.3f} (perplexity {r['mlm_perplexity']:.1f}), "
            f"accuracy {r['mlm_accuracy']:.3f} on {r['masked_tokens']:,} masked tokens "
            f"({r['texts']:,} texts, {r['checkpoint']} checkpoint)"
        )


RECIPE = BertMLMRecipe()
