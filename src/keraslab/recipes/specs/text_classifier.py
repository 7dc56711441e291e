from __future__ import annotations

from dataclasses import dataclass

from keraslab.errors import UserError
from keraslab.options import (
    Settings,
    blocks_option,
    dropout_option,
    feed_forward_option,
    heads_option,
    option,
    seed_option,
    width_option,
)
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.commands import CheckpointOptions, ExportOptions

IMBALANCE = ("none", "class-weight", "sample-weight", "focal")


@dataclass
class LabelledTexts(Settings):
    """The labelled data of a text classifier (shared by text-classifier and finetune-text)."""

    dataset: str = option("tweets", "dataset name (see `keraslab list`)")
    csv: str | None = option(
        None, "your labelled CSV (replaces the tweets)", path=True, metavar="FILE.csv"
    )
    label_column: str = option("sentiment", "CSV label column")
    text_column: str = option("text", "CSV text column")
    labelled: int | None = option(
        None, "labelled training examples used (stratified; default all)", min=10
    )


@dataclass
class Config(LabelledTexts):
    """Settings of a text-classifier run (all saved in config.json)."""

    init: str | None = option(
        None,
        "start from this bert-mlm run's encoder, or an elmo run's biLM, and its tokenizer",
        path=True,
        metavar="RUN",
    )
    freeze_init: bool = option(
        False,
        "keep the --init elmo run's biLM fixed: only the mix of its layers and the head learn "
        "(the paper's recipe)",
    )
    imbalance: str = option("none", "how the minority class is weighted", choices=IMBALANCE)
    augment: str = option(
        "none",
        "augment the training texts only: eda adds --augment-copies EDA copies of each "
        "(WordNet synonyms, insertions, swaps, deletions; see `keraslab augment text`); "
        "backtranslate adds one paraphrase of each through --forward and --back",
        choices=("none", "eda", "backtranslate"),
    )
    augment_copies: int = option(4, "EDA copies of each training text", positive=True, max=32)
    forward: str | None = option(
        None, "backtranslate: a translator run from the texts' language", path=True, metavar="RUN"
    )
    back: str | None = option(
        None, "backtranslate: a translator run back (--direction es-en)", path=True, metavar="RUN"
    )
    embedding_noise: float = option(
        0.0,
        "embedding-space augmentation: in training, Gaussian noise of this size relative to "
        "each token's normalised embedding (e.g. 0.1)",
        min=0,
        max=10,
    )
    focal_gamma: float = option(2.0, "focal loss gamma", min=0)
    epochs: int = option(6, "passes over the labelled texts", positive=True)
    batch_size: int = option(64, "texts per update", positive=True)
    learning_rate: float = option(3e-4, "Adam learning rate", above=0)
    seed: int = seed_option()
    vocab_size: int = option(8000, "BPE subwords", min=100)
    sequence_length: int = option(64, "longest text in tokens", positive=True)
    embedding_dim: int = width_option(128)
    num_heads: int = heads_option(4)
    intermediate_dim: int = feed_forward_option(512)
    layers: int = blocks_option(2)
    dropout: float = dropout_option(0.1)
    pooling: str = "mean"

    def validate(self) -> None:
        super().validate()
        self.check_heads()
        if self.freeze_init and not self.init:
            raise UserError("--freeze-init needs --init ELMO_RUN (the biLM it keeps fixed).")
        if self.augment == "backtranslate" and not (self.forward and self.back):
            raise UserError(
                "--augment backtranslate needs --forward RUN (e.g. en-es) and --back RUN (es-en):"
                " train them with `keraslab train translator [--direction es-en]`."
            )


INFO = RecipeInfo(
    "text-classifier",
    "keraslab.recipes.text_classifier",
    "sentiment classifier (class weights, focal loss, --init a bert-mlm or elmo run)",
    ("tweets",),
    "tweets",
    Config,
    {"classify": CheckpointOptions, "evaluate": CheckpointOptions, "export": ExportOptions},
    kind="text",
)
