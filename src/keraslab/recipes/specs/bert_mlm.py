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
from keraslab.recipes.specs.commands import ExportOptions, TextsEvaluateOptions


@dataclass
class UnlabelledTexts(Settings):
    """The pretraining texts of an encoder (shared by bert-mlm and elmo)."""

    dataset: str = option("tweets", "dataset name (see `keraslab list`)")
    text: str | None = option(
        None, "your own UTF-8 text file: one document per paragraph", path=True, metavar="FILE.txt"
    )


@dataclass
class Config(UnlabelledTexts):
    """Settings of a bert-mlm run (all saved in config.json)."""

    epochs: int = option(10, "passes over the training texts", positive=True)
    batch_size: int = option(64, "texts per update", positive=True)
    learning_rate: float = option(5e-4, "peak AdamW rate (warm-up, cosine decay)", above=0)
    warmup_steps: int = option(300, "learning-rate warm-up, updates", positive=True)
    weight_decay: float = option(0.01, "AdamW weight decay", min=0)
    seed: int = seed_option()
    vocab_size: int = option(8000, "BPE subwords", min=100)
    sequence_length: int = option(64, "longest text in tokens", min=8)
    embedding_dim: int = width_option(128)
    num_heads: int = heads_option(4)
    intermediate_dim: int = feed_forward_option(512)
    layers: int = blocks_option(2)
    dropout: float = dropout_option(0.1)
    next_sentence: bool = option(False, "add the next-sentence task")
    mask_rate: float = 0.15

    def validate(self) -> None:
        super().validate()
        self.check_heads()
        if not 0 < self.mask_rate < 1:
            raise UserError("the mask rate must be in (0, 1).")

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


INFO = RecipeInfo(
    "bert-mlm",
    "keraslab.recipes.bert_mlm",
    "BERT-style encoder, masked-LM pretraining (optional next-sentence task)",
    ("tweets", "austen"),
    "tweets",
    Config,
    {"evaluate": TextsEvaluateOptions, "export": ExportOptions},
    kind="text",
)
