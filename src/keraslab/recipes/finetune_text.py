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

import time
from dataclasses import asdict, dataclass

import keras
import numpy as np

from keraslab.callbacks import Checkpoint, MetricsLog
from keraslab.checkpoint import load_run_checkpoint
from keraslab.engine.seeding import set_seed
from keraslab.errors import UserError
from keraslab.io import write_json
from keraslab.metrics.classification import classification_scores
from keraslab.models.classifier import class_weights
from keraslab.recipes.settings import Settings
from keraslab.recipes.text_classifier import (  # same data, split and scores
    add_test_scores,
    format_evaluation,  # noqa: F401 - the CLI prints with recipe.format_evaluation
    load_data,
    score_test,
)
from keraslab.runs import (
    Run,
    continue_run,
    new_run,
    open_run,
    reject_options,
    reopen_run,
    require_recipe,
)

NAME = "finetune-text"
METHODS = ("frozen", "full", "adapters", "lora")
# Learning rates that worked for each method (BERT fine-tuning: 2e-5..5e-5; Houlsby: 1e-4..1e-3).
LEARNING_RATES = {"frozen": 1e-3, "full": 3e-5, "adapters": 1e-3, "lora": 5e-4}


@dataclass
class Config(Settings):
    """Settings of a finetune-text run (all saved in config.json)."""

    dataset: str = "tweets"
    csv: str | None = None
    label_column: str = "sentiment"
    text_column: str = "text"
    labelled: int | None = None  # labelled training examples used (stratified; None: all)
    imbalance: str = "class-weight"  # none | class-weight
    method: str = "adapters"
    bottleneck: int = 64
    lora_rank: int = 8
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float | None = None  # None: LEARNING_RATES[method]
    sequence_length: int = 64
    dropout: float = 0.1
    seed: int = 0

    _positive = ("epochs", "batch_size", "bottleneck", "lora_rank", "sequence_length")

    def validate(self) -> None:
        self.check_positive()
        if self.method not in METHODS:
            raise UserError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}.")
        if self.imbalance not in ("none", "class-weight"):
            raise UserError("--imbalance for finetune-text: none or class-weight.")
        if self.labelled is not None and self.labelled < 10:
            raise UserError(f"--labelled must be at least 10, got {self.labelled}.")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise UserError(f"--learning-rate must be > 0, got {self.learning_rate}.")
        if not 0 <= self.dropout < 1:
            raise UserError("--dropout must be in [0, 1).")
        if self.sequence_length < 3:
            raise UserError("--sequence-length must be at least 3 ([CLS] text [SEP]).")

    @property
    def lr(self) -> float:
        return self.learning_rate or LEARNING_RATES[self.method]


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


def check_run(run: Run) -> None:
    require_recipe(run, NAME)


def train(config: Config, out: str = "runs", verbose: int = 1, echo=print) -> dict:
    """Fine-tune a new run under ``out``; returns the summary (also summary.json)."""
    config.validate()
    data = load_data(config)  # before creating anything: bad input writes nothing
    set_seed(config.seed)
    model, tokenizer = build_model(config, len(data.classes))  # missing weights: nothing written
    run = new_run(out, NAME, {**asdict(config), "backend": keras.backend.backend()})
    run.config.update(classes=list(data.classes))
    write_json(run.path / "config.json", run.config)
    echo(f"run directory: {run.path}")
    echo(f"data: {data.split}")
    return _fit(run, config, model, tokenizer, data, 0, verbose, echo)


def resume(run_path: str, epochs: int | None = None, verbose: int = 1, echo=print) -> dict:
    run, config = reopen_run(run_path, NAME, Config, epochs)
    data = load_data(config)
    model, tokenizer, header = _restore(run, config, "last")
    done = header["epoch"]
    continue_run(run, done, config.epochs, epochs, echo)
    best = header["meta"].get("best")
    return _fit(run, config, model, tokenizer, data, done, verbose, echo, best=best)


def parameter_counts(model) -> dict:
    from keraslab.transfer.finetune import trainable_count

    trainable, total = trainable_count(model)
    return {"trainable": trainable, "total": total, "percent": round(100 * trainable / total, 3)}


def _fit(run, config, model, tokenizer, data, initial, verbose, echo, best=None) -> dict:
    k = len(data.classes)
    x = encode(tokenizer, data.train_texts, config.sequence_length)
    y = np.asarray(data.train_labels, "int32")
    xv = encode(tokenizer, data.val_texts, config.sequence_length)
    counts = parameter_counts(model)
    echo(
        f"method {config.method}: {counts['trainable']:,} of {counts['total']:,} parameters "
        f"trained ({counts['percent']:.2f}%), learning rate {config.lr:g}; {len(y):,} texts"
    )
    weights = {}
    if config.imbalance == "class-weight":
        try:
            weights["class_weight"] = class_weights(y, k)
        except ValueError as e:
            raise UserError(f"--imbalance class-weight: {e}") from None
    callbacks = [
        Validation(xv, np.asarray(data.val_labels), data.classes, echo),
        MetricsLog(run.metrics_path),
        Checkpoint(run.checkpoints, monitor="val_macro_f1", mode="max", best=best),
    ]
    t0 = time.time()
    set_seed(config.seed + initial)
    model.fit(
        x,
        y,
        batch_size=config.batch_size,
        epochs=config.epochs,
        initial_epoch=initial,
        verbose=verbose,
        callbacks=callbacks,
        **weights,
    )
    seconds = time.time() - t0
    summary = {
        "method": config.method,
        "epochs": config.epochs,
        "train_seconds_this_session": round(seconds, 1),
        "backend": keras.backend.backend(),
        "parameters": counts,
        "labelled": int(len(y)),
    }
    load_run_checkpoint(model, run, "best")
    result = _test(run, model, tokenizer, data, config, "best", echo)
    add_test_scores(summary, result)
    write_json(run.summary_path, summary)
    echo(f"run directory: {run.path}")
    return summary


def _test(run, model, tokenizer, data, config, which, echo) -> dict:
    xt = encode(tokenizer, data.test_texts, config.sequence_length)
    return score_test(run, data, predict(model, xt), which, echo, prefix=f"{config.method}: ")


def _restore(run: Run, config: Config, which: str):
    classes = run.config.get("classes")
    if not classes:
        raise UserError(f"{run.path}/config.json lacks the class names: the run is damaged.")
    set_seed(config.seed)
    model, tokenizer = build_model(config, len(classes))
    model.optimizer.build(model.trainable_variables)  # its state is in the checkpoint too
    header = load_run_checkpoint(model, run, which)
    return model, tokenizer, header


def evaluate(run_path: str, which: str = "last", n=None, echo=print, **options) -> dict:
    """Macro-F1, per-class recall, accuracy and the confusion matrix on the test split."""
    reject_options(NAME, {**options, "n": n})
    run = open_run(run_path)
    check_run(run)
    config = Config.from_dict(run.config)
    model, tokenizer, _ = _restore(run, config, which)
    return _test(run, model, tokenizer, load_data(config), config, which, echo)


def sample(*args, **kwargs):
    raise UserError("a finetune-text run labels text: use `keraslab evaluate RUN` for its scores.")
