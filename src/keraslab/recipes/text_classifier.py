"""Recipe ``text-classifier``: a Transformer sentiment classifier on the labelled tweets (3
classes, 42/39/18%) or your own CSV, with the imbalance remedies of the course, selectable:

- ``--imbalance none``: plain cross-entropy;
- ``class-weight``: ``fit(class_weight=...)`` with balanced weights ``n / (k * n_c)``;
- ``sample-weight``: the same weights given per example (``fit(sample_weight=...)``), the route
  any per-example weight takes through keraslab's custom train step;
- ``focal``: the focal loss (``--focal-gamma``), no weights.

``--init RUN`` starts the encoder from a ``bert-mlm`` run (its tokenizer and architecture too);
``--labelled N`` trains on a stratified subset of N labelled examples. Scores: macro-F1,
per-class recall, accuracy, and a confusion-matrix PNG of the test split.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import keras
import numpy as np

from keraslab.callbacks import Checkpoint, MetricsLog
from keraslab.checkpoint import load_run_checkpoint
from keraslab.data import DataSourceMissing
from keraslab.data.text import BERT_SPECIAL_TOKENS, SubwordTokenizer, bert_sequences, pad_batch
from keraslab.engine.seeding import set_seed
from keraslab.errors import UserError
from keraslab.io import write_json
from keraslab.metrics.classification import classification_scores, save_confusion_matrix
from keraslab.models.classifier import FocalLoss, TextClassifier, class_weights
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

NAME = "text-classifier"
IMBALANCE = ("none", "class-weight", "sample-weight", "focal")


@dataclass
class Config(Settings):
    """Settings of a text-classifier run (all saved in config.json)."""

    dataset: str = "tweets"
    csv: str | None = None  # a user's labelled CSV (replaces the tweets)
    label_column: str = "sentiment"
    text_column: str = "text"
    init: str | None = None  # a bert-mlm run whose encoder (and tokenizer) we start from
    labelled: int | None = None  # labelled training examples used (stratified; None: all)
    imbalance: str = "none"
    focal_gamma: float = 2.0
    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 3e-4
    seed: int = 0
    vocab_size: int = 8000
    sequence_length: int = 64
    embedding_dim: int = 128
    num_heads: int = 4
    intermediate_dim: int = 512
    layers: int = 2
    dropout: float = 0.1
    pooling: str = "mean"

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
        if self.imbalance not in IMBALANCE:
            raise UserError(f"--imbalance must be one of {', '.join(IMBALANCE)}.")
        if self.labelled is not None and self.labelled < 10:
            raise UserError(f"--labelled must be at least 10, got {self.labelled}.")
        self.check_heads()
        if not 0 <= self.dropout < 1 or self.focal_gamma < 0:
            raise UserError("--dropout must be in [0, 1) and --focal-gamma >= 0.")
        if not self.learning_rate > 0:
            raise UserError(f"--learning-rate must be > 0, got {self.learning_rate}.")


# ---- data ------------------------------------------------------------------------------------
def load_data(config: Config):
    from keraslab.data.sentiment import load_sentiment

    try:
        data = load_sentiment(
            config.csv if config.csv else "tweets",
            label_column=config.label_column,
            text_column=config.text_column,
        )
    except DataSourceMissing as e:
        raise UserError(str(e)) from None
    if config.labelled is not None and config.labelled < len(data.train_labels):
        keep = stratified_subset(data.train_labels, config.labelled, config.seed)
        data = data._replace(
            train_texts=[data.train_texts[i] for i in keep], train_labels=data.train_labels[keep]
        )
    return data


def stratified_subset(labels, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` examples keeping the class proportions (at least one per class)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    take = np.maximum(np.round(counts / counts.sum() * n).astype(int), 1)
    take[np.argmax(take)] += n - take.sum()  # exactly n
    keep = [
        rng.permutation(np.flatnonzero(labels == c))[:t] for c, t in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(keep))


def encode(tokenizer, texts, sequence_length: int) -> np.ndarray:
    return pad_batch(bert_sequences(tokenizer, texts, sequence_length), sequence_length)


# ---- model -----------------------------------------------------------------------------------
def _init_run(config: Config):
    """The bert-mlm run of ``--init`` (checked), or None."""
    if not config.init:
        return None
    run = open_run(config.init)
    if run.recipe != "bert-mlm":
        raise UserError(
            f"--init {config.init}: a {run.recipe!r} run, not a bert-mlm run; pretrain one with "
            "`keraslab train bert-mlm`."
        )
    default = Config()
    for key in (
        "vocab_size",
        "sequence_length",
        "embedding_dim",
        "num_heads",
        "intermediate_dim",
        "layers",
    ):
        mine, theirs = getattr(config, key), run.config.get(key)
        if mine != getattr(default, key) and mine != theirs:
            raise UserError(
                f"--{key.replace('_', '-')} {mine}: with --init the encoder (and tokenizer) come "
                f"from the bert-mlm run ({key} {theirs}); leave the option out."
            )
    return run


def architecture(config: Config, init: Run | None) -> dict:
    """The encoder settings: the classifier's own, or those of the ``--init`` run."""
    source = init.config if init is not None else asdict(config)
    return dict(
        sequence_length=int(source["sequence_length"]),
        embedding_dim=int(source["embedding_dim"]),
        num_heads=int(source["num_heads"]),
        intermediate_dim=int(source["intermediate_dim"]),
        num_layers=int(source["layers"]),
        dropout=float(config.dropout),
    )


def build_model(config: Config, vocabulary_size: int, num_classes: int, arch: dict):
    loss = FocalLoss(config.focal_gamma) if config.imbalance == "focal" else None
    model = TextClassifier(
        num_classes,
        pooling=config.pooling,
        loss=loss,
        vocabulary_size=vocabulary_size,
        **arch,
    )
    model.compile(optimizers={"classifier": keras.optimizers.Adam(config.learning_rate)})
    return model


def predict(model: TextClassifier, ids) -> np.ndarray:
    return model.predict_proba(ids).argmax(axis=-1)


class Validation(keras.callbacks.Callback):
    """Validation macro-F1, accuracy and per-class recall after each epoch."""

    def __init__(self, ids, labels, classes):
        super().__init__()
        self.ids, self.labels, self.classes = ids, labels, classes

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        s = classification_scores(self.labels, predict(self.model, self.ids), self.classes)
        logs["val_macro_f1"], logs["val_accuracy"] = s["macro_f1"], s["accuracy"]
        for c in self.classes:
            logs[f"val_recall_{c}"] = s["per_class"][c]["recall"]
        recalls = ", ".join(f"{c} {s['per_class'][c]['recall']:.2f}" for c in self.classes)
        print(
            f"\nepoch {epoch + 1}: val macro-F1 {s['macro_f1']:.3f}, accuracy "
            f"{s['accuracy']:.3f}; recall {recalls}"
        )


def check_run(run: Run) -> None:
    require_recipe(run, NAME)


def train(config: Config, out: str = "runs", verbose: int = 1, echo=print) -> dict:
    """Train a new classifier run under ``out``; returns the summary (also summary.json)."""
    config.validate()
    init = _init_run(config)
    data = load_data(config)  # before creating anything: bad input writes nothing
    if init is not None:
        from keraslab.recipes import bert_mlm

        pretrained, _, tokenizer = bert_mlm.load_model(init, "best")
    run = new_run(out, NAME, {**asdict(config), "backend": keras.backend.backend()})
    arch = architecture(config, init)
    # Saved with the run: it loads even if the --init run is later moved or deleted.
    run.config.update(classes=list(data.classes), architecture=arch)
    write_json(run.path / "config.json", run.config)
    echo(f"run directory: {run.path}")
    echo(f"data: {data.split}")
    if init is None:
        tokenizer = SubwordTokenizer.train(
            data.train_texts,
            vocabulary_size=config.vocab_size,
            extra_special_tokens=BERT_SPECIAL_TOKENS,
        )
    tokenizer.save(run.path / "tokenizer.json")
    set_seed(config.seed)
    model = build_model(config, tokenizer.vocabulary_size, len(data.classes), arch)
    if init is not None:
        model.load_backbone(pretrained.backbone)
        echo(f"encoder initialised from {init.path} (best checkpoint)")
    echo(f"model: {model.count_params():,} parameters")
    return _fit(run, config, model, tokenizer, data, 0, verbose, echo)


def resume(run_path: str, epochs: int | None = None, verbose: int = 1, echo=print) -> dict:
    run, config = reopen_run(run_path, NAME, Config, epochs)
    data = load_data(config)
    model, tokenizer, header = _restore(run, config, "last")
    done = header["epoch"]
    continue_run(run, done, config.epochs, epochs, echo)
    return _fit(
        run, config, model, tokenizer, data, done, verbose, echo, best=header["meta"].get("best")
    )


def _fit(run, config, model, tokenizer, data, initial, verbose, echo, best=None) -> dict:
    k = len(data.classes)
    x = encode(tokenizer, data.train_texts, model.backbone.sequence_length)
    y = np.asarray(data.train_labels, "int32")
    xv = encode(tokenizer, data.val_texts, model.backbone.sequence_length)
    counts = np.bincount(y, minlength=k)
    echo(
        f"training on {len(y):,} labelled texts ("
        + ", ".join(f"{c} {n:,}" for c, n in zip(data.classes, counts))
        + f"); imbalance: {config.imbalance}"
    )
    weights = {}
    if config.imbalance in ("class-weight", "sample-weight"):
        try:
            cw = class_weights(y, k)
        except ValueError as e:
            raise UserError(f"--imbalance {config.imbalance}: {e}") from None
        echo("class weights: " + ", ".join(f"{c} {cw[i]:.2f}" for i, c in enumerate(data.classes)))
        if config.imbalance == "class-weight":
            weights["class_weight"] = cw
        else:
            weights["sample_weight"] = np.array([cw[int(c)] for c in y], "float32")
    callbacks = [
        Validation(xv, np.asarray(data.val_labels), data.classes),
        MetricsLog(run.metrics_path),
        Checkpoint(run.checkpoints, monitor="val_macro_f1", mode="max", best=best),
    ]
    t0 = time.time()
    # Keras draws the shuffle order from the global seed: seed it per epoch for resumes.
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
        "epochs": config.epochs,
        "train_seconds_this_session": round(seconds, 1),
        "backend": keras.backend.backend(),
        "parameters": int(model.count_params()),
        "labelled": int(len(y)),
    }
    model, _, _ = _restore(run, config, "best")  # test the checkpoint with the best val macro-F1
    result = _test(run, model, tokenizer, data, "best", echo)
    add_test_scores(summary, result)
    summary["confusion_matrix_png"] = result["confusion_matrix_png"]
    write_json(run.summary_path, summary)
    echo(f"run directory: {run.path}")
    return summary


def _test(run, model, tokenizer, data, which, echo) -> dict:
    xt = encode(tokenizer, data.test_texts, model.backbone.sequence_length)
    return score_test(run, data, predict(model, xt), which, echo)


def score_test(run, data, predicted, which, echo, prefix: str = "") -> dict:
    """Scores of ``predicted`` test labels, the confusion-matrix PNG and ``evaluation.json``
    entry of the run; prints the one-line summary. Shared with ``finetune-text``."""
    result = classification_scores(data.test_labels, predicted, data.classes)
    png = save_confusion_matrix(
        result["confusion_matrix"],
        data.classes,
        run.path / f"confusion-test-{which}.png",
        title=f"{prefix}test macro-F1 {result['macro_f1']:.3f}, accuracy {result['accuracy']:.3f}",
    )
    result.update({"checkpoint": which, "split": data.split, "confusion_matrix_png": str(png)})
    save_evaluation(run, f"test-{which}", result)
    echo(format_evaluation(result))
    return result


def add_test_scores(summary: dict, result: dict) -> dict:
    """The test macro-F1, accuracy and per-class recall of ``result`` into ``summary``."""
    summary.update({f"test_{k}": result[k] for k in ("macro_f1", "accuracy")})
    summary["test_recall"] = {c: v["recall"] for c, v in result["per_class"].items()}
    return summary


def _restore(run: Run, config: Config, which: str):
    tokenizer = load_run_tokenizer(run, SubwordTokenizer.load)
    classes = run.config.get("classes")
    if not classes:
        raise UserError(f"{run.path}/config.json lacks the class names: the run is damaged.")
    arch = run.config.get("architecture")
    if not arch:
        raise UserError(f"{run.path}/config.json lacks the architecture: the run is damaged.")
    set_seed(config.seed)
    model = build_model(config, tokenizer.vocabulary_size, len(classes), arch)
    header = load_run_checkpoint(model, run, which)
    return model, tokenizer, header


def load_model(run: Run, which: str = "last"):
    """``(model, config, tokenizer)`` of a text-classifier run."""
    check_run(run)
    config = Config.from_dict(run.config)
    model, tokenizer, _ = _restore(run, config, which)
    return model, config, tokenizer


def classify(run_path: str, texts, which: str = "last") -> list[tuple[str, float]]:
    """``(label, probability)`` of each text."""
    run = open_run(run_path)
    check_run(run)
    texts = list(texts)
    for i, t in enumerate(texts):
        if not t.strip():
            raise UserError(f"text {i + 1} is empty: give text to classify.")
    model, _, tokenizer = load_model(run, which)
    probs = model.predict_proba(encode(tokenizer, texts, model.backbone.sequence_length))
    classes = run.config["classes"]
    return [(classes[int(p.argmax())], float(p.max())) for p in probs]


def evaluate(run_path: str, which: str = "last", n=None, echo=print, **options) -> dict:
    """Macro-F1, per-class recall, accuracy and the confusion matrix on the test split."""
    reject_options(NAME, {**options, "n": n})
    run = open_run(run_path)
    check_run(run)
    model, config, tokenizer = load_model(run, which)
    return _test(run, model, tokenizer, load_data(config), which, echo)


def format_evaluation(r: dict) -> str:
    recalls = ", ".join(f"{c} {v['recall']:.3f}" for c, v in r["per_class"].items())
    return (
        f"test macro-F1 {r['macro_f1']:.3f}, accuracy {r['accuracy']:.3f}; recall {recalls} "
        f"({r['checkpoint']} checkpoint); {r['confusion_matrix_png']}"
    )


def sample(*args, **kwargs):
    raise UserError('a text-classifier run labels text: use `keraslab classify RUN "text"`.')
