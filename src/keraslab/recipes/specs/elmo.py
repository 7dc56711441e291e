from __future__ import annotations

from dataclasses import dataclass

from keraslab.options import blocks_option, dropout_option, option, seed_option, width_option
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.bert_mlm import UnlabelledTexts
from keraslab.recipes.specs.commands import EmbedOptions, TextsEvaluateOptions


@dataclass
class Config(UnlabelledTexts):
    """Settings of an elmo run (all saved in config.json)."""

    level: str = option(
        "subword",
        "tokens: BPE subwords (what text-classifier --init reads) or characters",
        choices=("subword", "char"),
    )
    vocab_size: int = option(8000, "BPE subwords (subword level only)", min=100)
    epochs: int = option(4, "passes over the training texts", positive=True)
    batch_size: int = option(64, "texts per update", positive=True)
    learning_rate: float = option(2e-3, "Adam learning rate (gradients clipped to norm 1)", above=0)
    seed: int = seed_option()
    sequence_length: int = option(64, "longest text in tokens", min=4)
    embedding_dim: int = width_option(128, "token vectors and LSTM width, per direction")
    layers: int = blocks_option(2, "LSTM layers per direction")
    dropout: float = dropout_option(0.1, "dropout between layers")

    def bilm_args(self, vocabulary_size: int) -> dict:
        return dict(
            vocabulary_size=vocabulary_size,
            sequence_length=self.sequence_length,
            embedding_dim=self.embedding_dim,
            num_layers=self.layers,
            dropout=self.dropout,
        )


INFO = RecipeInfo(
    "elmo",
    "keraslab.recipes.elmo",
    "ELMo: forward and backward LSTM language models; contextual vectors (keraslab embed)",
    ("tweets", "austen"),
    "tweets",
    Config,
    {"embed": EmbedOptions, "evaluate": TextsEvaluateOptions},
    default_backend="tensorflow",
    kind="text",
)
