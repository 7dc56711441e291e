"""Recipe ``finetune-text``: the pretrained all-MiniLM-L6-v2 encoder (22.7M parameters, loaded
offline through keras-hub) with a new classification head, on the labelled tweets or your CSV.

``--method`` chooses what is trained:

- ``frozen``: the head only (the encoder is a fixed feature extractor);
- ``full``: everything, at a low learning rate (3e-5);
- ``adapters``: Houlsby adapters after the attention and feed-forward sublayers of each of the 6
  blocks (``--bottleneck``), the layer norms and the head;
- ``lora``: LoRA factors of rank ``--lora-rank`` on the query and value projections, the layer
  norms and the head.

Same data, split, class weights and scores (macro-F1, per-class recall, accuracy, confusion
matrix) as ``text-classifier``, so the runs compare with the from-scratch classifier.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np

from keraslab.engine.seeding import set_seed
from keraslab.metrics.classification import classification_scores
from keraslab.recipes.base import Job
from keraslab.recipes.specs.finetune_text import LEARNING_RATES, METHODS, Config  # noqa: F401
from keraslab.recipes.text_classifier import (  # same data, split, weights and scores
    TextClassification,
    add_test_scores,
    class_weight_inputs,
    load_data,
    run_classes,
    score_test,
)
from keraslab.runs import Run, update_config


def build_model(config: Config, num_classes: int, pretrained: bool = True):
    """MiniLM encoder + mean pooling + dropout + Dense head, set up for ``config.method``."""
    from keraslab.transfer import finetune as ft
    from keraslab.transfer.text_encoders import INPUT_NAMES, MeanPooling, load_minilm

    backbone, tokenizer = load_minilm()
    inputs = {k: keras.Input((config.sequence_length,), dtype="int32", name=k) for k in INPUT_NAMES}
    hidden = backbone(inputs)["sequence_output"]
    x = MeanPooling(normalize=False, name="mean_pooling")(hidden, inputs["padding_mask"])
    x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)
    logits = keras.layers.Dense(num_classes, name="head")(x)
    model = keras.Model(inputs, logits, name=f"minilm_{config.method}")
    if config.method == "frozen":
        ft.freeze(backbone)
    elif config.method == "adapters":
        ft.insert_adapters(model, bottleneck=config.bottleneck, head=["head"])
    elif config.method == "lora":
        ft.enable_lora(model, rank=config.lora_rank, head=["head"])
    model.compile(
        optimizer=keras.optimizers.Adam(config.lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model, tokenizer


def encode(tokenizer, texts, sequence_length: int) -> dict:
    from keraslab.transfer.text_encoders import tokenize

    return tokenize(tokenizer, texts, sequence_length)


def predict(model, x, batch_size: int = 128) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0)).argmax(axis=-1)


class Validation(keras.callbacks.Callback):
    """Validation macro-F1 and accuracy after each epoch."""

    def __init__(self, x, labels, classes, echo=print):
        super().__init__()
        self.x, self.labels, self.classes, self.echo = x, labels, classes, echo

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        s = classification_scores(self.labels, predict(self.model, self.x), self.classes)
        logs["val_macro_f1"], logs["val_accuracy"] = s["macro_f1"], s["accuracy"]
        self.echo(
            f"epoch {epoch + 1}: val macro-F1 {s['macro_f1']:.3f}, accuracy {s['accuracy']:.3f}"
        )


def parameter_counts(model) -> dict:
    from keraslab.transfer.finetune import trainable_count

    trainable, total = trainable_count(model)
    return {"trainable": trainable, "total": total, "percent": round(100 * trainable / total, 3)}


class Assets(NamedTuple):
    tokenizer: object  # MiniLM's WordPiece tokenizer
    classes: list


# ---- the recipe ------------------------------------------------------------------------------
class FinetuneTextRecipe(TextClassification):
    name = "finetune-text"
    Config = Config
    monitor = "val_macro_f1"
    monitor_mode = "max"

    def load_data(self, config: Config):
        from keraslab.transfer.text_encoders import minilm_path

        data = load_data(config)
        minilm_path()  # missing weights: a one-line error before anything is written
        return data

    def make_assets(self, job: Job) -> Assets:
        from keraslab.transfer.text_encoders import minilm_tokenizer

        update_config(job.run, classes=list(job.data.classes))
        job.echo(f"data: {job.data.split}")
        return Assets(minilm_tokenizer(), list(job.data.classes))

    def load_assets(self, run: Run, config: Config) -> Assets:
        from keraslab.transfer.text_encoders import minilm_tokenizer

        return Assets(minilm_tokenizer(), run_classes(run))

    def build_model(self, config: Config, assets: Assets = None, data=None):
        model, _ = build_model(config, len(assets.classes))
        model.optimizer.build(model.trainable_variables)  # its state is in the checkpoint too
        return model

    def fit_inputs(self, job: Job) -> dict:
        config, data = job.config, job.data
        x = encode(job.assets.tokenizer, data.train_texts, config.sequence_length)
        y = np.asarray(data.train_labels, "int32")
        counts = parameter_counts(job.model)
        job.echo(
            f"method {config.method}: {counts['trainable']:,} of {counts['total']:,} parameters "
            f"trained ({counts['percent']:.2f}%), learning rate {config.lr:g}; {len(y):,} texts"
        )
        weights = class_weight_inputs(config, y, data.classes, lambda *a: None)
        set_seed(config.seed + job.initial_epoch)
        return {"x": x, "y": y, "batch_size": config.batch_size, **weights}

    def callbacks(self, job: Job) -> list:
        xv = encode(job.assets.tokenizer, job.data.val_texts, job.config.sequence_length)
        return [Validation(xv, np.asarray(job.data.val_labels), job.data.classes, job.echo)]

    def summarize(self, job: Job, seconds: float) -> dict:
        from keraslab.runs.checkpoint import load_run_checkpoint

        summary = {
            "method": job.config.method,
            "parameters": parameter_counts(job.model),
            "labelled": int(len(job.data.train_labels)),
        }
        load_run_checkpoint(job.model, job.run, "best")
        add_test_scores(summary, self.test(job, job.data, "best", job.echo))
        return summary

    def test(self, job: Job, data, which: str, echo) -> dict:
        xt = encode(job.assets.tokenizer, data.test_texts, job.config.sequence_length)
        prefix = f"{job.config.method}: "
        return score_test(job.run, data, predict(job.model, xt), which, echo, prefix=prefix)


RECIPE = FinetuneTextRecipe()
