"""Recipe ``text-classifier``: a Transformer sentiment classifier on the labelled tweets (3
classes, 42/39/18%) or your own CSV, with the imbalance remedies of the course, selectable:

- ``--imbalance none``: plain cross-entropy;
- ``class-weight``: ``fit(class_weight=...)`` with balanced weights ``n / (k * n_c)``;
- ``sample-weight``: the same weights given per example (``fit(sample_weight=...)``), the route
  any per-example weight takes through keraslab's custom train step;
- ``focal``: the focal loss (``--focal-gamma``), no weights.

``--init RUN`` starts the encoder from a ``bert-mlm`` run (its tokenizer and architecture too),
or replaces it by an ``elmo`` run's biLM whose layers a learnt scalar mix combines (fine-tuned, or
fixed with ``--freeze-init``);
``--labelled N`` trains on a stratified subset of N labelled examples. Scores: macro-F1,
per-class recall, accuracy, and a confusion-matrix PNG of the test split.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import NamedTuple

import keras
import numpy as np

from keraslab.data.text import BERT_SPECIAL_TOKENS, SubwordTokenizer, bert_sequences, pad_batch
from keraslab.engine.seeding import set_seed
from keraslab.errors import UserError
from keraslab.metrics.classification import classification_scores, save_confusion_matrix
from keraslab.models.text_classifier import FocalLoss, TextClassifier, class_weights
from keraslab.recipes.base import Job, Recipe
from keraslab.recipes.specs.text_classifier import IMBALANCE, Config  # noqa: F401
from keraslab.runs import Run, load_run_tokenizer, open_run, update_config


# ---- data ------------------------------------------------------------------------------------
def load_data(config: Config):
    from keraslab.data.sentiment import load_sentiment

    data = load_sentiment(
        config.csv if config.csv else "tweets",
        label_column=config.label_column,
        text_column=config.text_column,
    )
    if config.labelled is not None and config.labelled < len(data.train_labels):
        keep = stratified_subset(data.train_labels, config.labelled, config.seed)
        data = data._replace(
            train_texts=[data.train_texts[i] for i in keep], train_labels=data.train_labels[keep]
        )
    augment = getattr(config, "augment", "none")
    if augment == "eda":  # the training split only
        from keraslab.augment.text import augment_texts

        copies = augment_texts(data.train_texts, config.augment_copies, seed=config.seed)
        texts = list(data.train_texts) + [c for per_text in zip(*copies) for c in per_text]
        labels = np.tile(np.asarray(data.train_labels), 1 + config.augment_copies)
        data = data._replace(train_texts=texts, train_labels=labels)
    elif augment == "backtranslate":
        from keraslab.recipes.translator import backtranslate

        copies = backtranslate(data.train_texts, config.forward, config.back, warn=lambda s: None)
        texts = list(data.train_texts) + list(copies)
        labels = np.tile(np.asarray(data.train_labels), 2)
        data = data._replace(train_texts=texts, train_labels=labels)
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
    if run.recipe not in ("bert-mlm", "elmo"):
        raise UserError(
            f"--init {config.init}: a {run.recipe!r} run, not a bert-mlm or elmo run; pretrain "
            "one with `keraslab train bert-mlm` or `keraslab train elmo`."
        )
    if run.recipe == "elmo" and run.config.get("level", "subword") != "subword":
        raise UserError(
            f"--init {config.init}: a character-level elmo run; the classifier reads subwords: "
            "pretrain with `keraslab train elmo --level subword`."
        )
    if config.freeze_init and run.recipe != "elmo":
        raise UserError("--freeze-init is for an elmo --init run (BERT is fine-tuned whole).")
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
    if init is not None and init.recipe == "elmo":
        return dict(
            encoder="elmo",
            sequence_length=int(source["sequence_length"]),
            embedding_dim=int(source["embedding_dim"]),
            num_layers=int(source["layers"]),
            dropout=float(config.dropout),
            freeze=bool(config.freeze_init),
        )
    return dict(
        sequence_length=int(source["sequence_length"]),
        embedding_dim=int(source["embedding_dim"]),
        num_heads=int(source["num_heads"]),
        intermediate_dim=int(source["intermediate_dim"]),
        num_layers=int(source["layers"]),
        dropout=float(config.dropout),
        embedding_noise=float(getattr(config, "embedding_noise", 0.0)),
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
    Recipe.save_evaluation(run, f"test-{which}", result)
    echo(format_evaluation(result))
    return result


def add_test_scores(summary: dict, result: dict) -> dict:
    """The test macro-F1, accuracy and per-class recall of ``result`` into ``summary``."""
    summary.update({f"test_{k}": result[k] for k in ("macro_f1", "accuracy")})
    summary["test_recall"] = {c: v["recall"] for c, v in result["per_class"].items()}
    return summary


class Assets(NamedTuple):
    """What a classifier run keeps besides its checkpoints: the tokenizer, the class names and
    the encoder's settings (those of the ``--init`` run when it started from one)."""

    tokenizer: object
    classes: list
    architecture: dict


def class_weight_inputs(config, y, classes, echo) -> dict:
    """``class_weight`` or ``sample_weight`` of ``model.fit`` for ``--imbalance`` (or nothing)."""
    if config.imbalance not in ("class-weight", "sample-weight"):
        return {}
    try:
        cw = class_weights(y, len(classes))
    except ValueError as e:
        raise UserError(f"--imbalance {config.imbalance}: {e}") from None
    echo("class weights: " + ", ".join(f"{c} {cw[i]:.2f}" for i, c in enumerate(classes)))
    if config.imbalance == "class-weight":
        return {"class_weight": cw}
    return {"sample_weight": np.array([cw[int(c)] for c in y], "float32")}


def run_classes(run: Run) -> list:
    classes = run.config.get("classes")
    if not classes:
        raise UserError(f"{run.path}/config.json lacks the class names: the run is damaged.")
    return classes


# ---- the recipe ------------------------------------------------------------------------------
class TextClassification(Recipe):
    """What the recipes that label texts share (text-classifier, finetune-text): ``evaluate``
    scores the run's ``test`` predictions on the test split of its data."""

    def test(self, job: Job, data, which: str, echo) -> dict:
        raise NotImplementedError

    def evaluate(self, run_path: str, which: str = "last", echo=print) -> dict:
        """Macro-F1, per-class recall, accuracy and the confusion matrix on the test split."""
        job = self.load(self.open(run_path), which)
        return self.test(job, load_data(job.config), which, echo)

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return format_evaluation(r)


class TextClassifierRecipe(TextClassification):
    name = "text-classifier"
    Config = Config
    monitor = "val_macro_f1"
    monitor_mode = "max"

    def load_data(self, config: Config):
        _init_run(config)  # a bad --init fails before anything is written
        return load_data(config)

    def make_assets(self, job: Job) -> Assets:
        config, data, run = job.config, job.data, job.run
        init = _init_run(config)
        arch = architecture(config, init)
        # Saved with the run: it loads even if the --init run is later moved or deleted.
        update_config(run, classes=list(data.classes), architecture=arch)
        job.echo(f"data: {data.split}")
        if init is not None:
            tokenizer = load_run_tokenizer(init, SubwordTokenizer.load)
        else:
            tokenizer = SubwordTokenizer.train(
                data.train_texts,
                vocabulary_size=config.vocab_size,
                extra_special_tokens=BERT_SPECIAL_TOKENS,
            )
        tokenizer.save(run.path / "tokenizer.json")
        return Assets(tokenizer, list(data.classes), arch)

    def load_assets(self, run: Run, config: Config) -> Assets:
        tokenizer = load_run_tokenizer(run, SubwordTokenizer.load)
        arch = run.config.get("architecture")
        if not arch:
            raise UserError(f"{run.path}/config.json lacks the architecture: the run is damaged.")
        return Assets(tokenizer, run_classes(run), arch)

    def build_model(self, config: Config, assets: Assets = None, data=None):
        vocabulary_size = assets.tokenizer.vocabulary_size
        return build_model(config, vocabulary_size, len(assets.classes), assets.architecture)

    def initialize(self, job: Job) -> None:
        init = _init_run(job.config)
        if init is not None and init.recipe == "elmo":
            from keraslab.recipes.elmo import RECIPE as ELMO

            job.model.load_backbone(ELMO.load(init, "best").model.bilm)
            how = "frozen" if job.config.freeze_init else "fine-tuned"
            job.echo(f"ELMo biLM from {init.path} (best checkpoint), {how}")
        elif init is not None:
            from keraslab.recipes.bert_mlm import RECIPE as BERT_MLM

            pretrained = BERT_MLM.load(init, "best").model
            job.model.load_backbone(pretrained.backbone)
            job.echo(f"encoder initialised from {init.path} (best checkpoint)")
        job.echo(f"model: {job.model.count_params():,} parameters")

    def fit_inputs(self, job: Job) -> dict:
        config, data, tokenizer = job.config, job.data, job.assets.tokenizer
        length = job.model.backbone.sequence_length
        x = encode(tokenizer, data.train_texts, length)
        y = np.asarray(data.train_labels, "int32")
        counts = np.bincount(y, minlength=len(data.classes))
        job.echo(
            f"training on {len(y):,} labelled texts ("
            + ", ".join(f"{c} {n:,}" for c, n in zip(data.classes, counts))
            + f"); imbalance: {config.imbalance}"
            + {
                "eda": f"; {len(y) // (1 + config.augment_copies):,} texts and "
                f"{config.augment_copies} EDA copies of each",
                "backtranslate": f"; {len(y) // 2:,} texts and a back-translation of each",
            }.get(config.augment, "")
        )
        weights = class_weight_inputs(config, y, data.classes, job.echo)
        # Keras draws the shuffle order from the global seed: seed it per epoch for resumes.
        set_seed(config.seed + job.initial_epoch)
        return {"x": x, "y": y, "batch_size": config.batch_size, **weights}

    def callbacks(self, job: Job) -> list:
        xv = encode(job.assets.tokenizer, job.data.val_texts, job.model.backbone.sequence_length)
        return [Validation(xv, np.asarray(job.data.val_labels), job.data.classes)]

    def summarize(self, job: Job, seconds: float) -> dict:
        summary = {"labelled": int(len(job.data.train_labels))}
        best = self.load(job.run, "best")  # test the checkpoint with the best val macro-F1
        result = self.test(best, job.data, "best", job.echo)
        add_test_scores(summary, result)
        summary["confusion_matrix_png"] = result["confusion_matrix_png"]
        return summary

    def test(self, job: Job, data, which: str, echo) -> dict:
        xt = encode(job.assets.tokenizer, data.test_texts, job.model.backbone.sequence_length)
        return score_test(job.run, data, predict(job.model, xt), which, echo)

    def classify(self, run_path: str, texts, which: str = "last") -> list[tuple[str, float]]:
        """``(label, probability)`` of each text."""
        run = self.open(run_path)
        texts = list(texts)
        for i, t in enumerate(texts):
            if not t.strip():
                raise UserError(f"text {i + 1} is empty: give text to classify.")
        job = self.load(run, which)
        length = job.model.backbone.sequence_length
        probs = job.model.predict_proba(encode(job.assets.tokenizer, texts, length))
        classes = job.assets.classes
        return [(classes[int(p.argmax())], float(p.max())) for p in probs]


def format_evaluation(r: dict) -> str:
    recalls = ", ".join(f"{c} {v['recall']:.3f}" for c, v in r["per_class"].items())
    return (
        f"test macro-F1 {r['macro_f1']:.3f}, accuracy {r['accuracy']:.3f}; recall {recalls} "
        f"({r['checkpoint']} checkpoint); {r['confusion_matrix_png']}"
    )


RECIPE = TextClassifierRecipe()
