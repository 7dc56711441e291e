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
from keraslab.recipes.specs.commands import (
    ExportOptions,
    TranslateOptions,
    TranslatorEvaluateOptions,
)


@dataclass
class Config(Settings):
    """Settings of a translator run (all saved in config.json)."""

    dataset: str = option("bible", "dataset name (see `keraslab list`)")
    pairs: str | None = option(
        None,
        "your english<TAB>spanish pairs file (replaces the Bible)",
        path=True,
        metavar="FILE.tsv",
    )
    direction: str = option(
        "en-es",
        "en-es: English to Spanish; es-en: Spanish to English (the same pairs, swapped; the "
        "way back for `keraslab augment text --method backtranslate`)",
        choices=("en-es", "es-en"),
    )
    epochs: int = option(12, "passes over the training pairs", positive=True)
    batch_size: int = option(64, "pairs per update", positive=True)
    subset: int | None = option(None, "training pairs used (default all)", positive=True)
    learning_rate: float = option(1e-3, "peak of the warm-up / inverse-sqrt schedule", above=0)
    warmup_steps: int = option(800, "learning-rate warm-up, updates", positive=True)
    seed: int = seed_option()
    vocab_size: int = option(8000, "BPE subwords (one vocabulary for both languages)", min=100)
    max_tokens: int = option(
        96, "longest source / target sentence in subword tokens (with [START]/[END])", min=8
    )
    embedding_dim: int = width_option(256)
    num_heads: int = heads_option(8)
    intermediate_dim: int = feed_forward_option(1024)
    layers: int = blocks_option(2, "encoder blocks, and decoder blocks")
    dropout: float = dropout_option(0.1)
    norm: str = option(
        "pre",
        "block normalisation: pre (stable at this rate) or post (the paper)",
        choices=("pre", "post"),
    )
    positions: str = option("learned", "position embeddings", choices=("learned", "sinusoidal"))
    label_smoothing: float = 0.1
    val_sentences: int = option(200, "validation verses translated after each epoch", min=0)

    def validate(self) -> None:
        super().validate()
        self.check_heads()
        if not 0 <= self.label_smoothing < 1:
            raise UserError("label smoothing must be in [0, 1).")


INFO = RecipeInfo(
    "translator",
    "keraslab.recipes.translator",
    "English->Spanish (or --direction es-en) Transformer (BPE, greedy/beam search); BLEU and "
    "chrF on held-out books",
    ("bible",),
    "bible",
    Config,
    {"translate": TranslateOptions, "evaluate": TranslatorEvaluateOptions, "export": ExportOptions},
    kind="text",
)
