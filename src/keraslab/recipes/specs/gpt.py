from __future__ import annotations

from dataclasses import dataclass

from keraslab.errors import UserError
from keraslab.options import (
    Settings,
    blocks_option,
    dropout_option,
    heads_option,
    option,
    seed_option,
    width_option,
)
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.commands import CheckpointOptions, ExportOptions, GenerateOptions


@dataclass
class Config(Settings):
    """Settings of a GPT run (all saved in config.json)."""

    dataset: str = option("austen", "dataset name (see `keraslab list`)")
    text: str | None = option(
        None, "your own UTF-8 text file (replaces Austen)", path=True, metavar="FILE.txt"
    )
    level: str = option("char", "tokens: characters or BPE subwords", choices=("char", "subword"))
    vocab_size: int = option(2000, "BPE subwords (subword level only)", min=100)
    epochs: int = option(10, "epochs of --steps-per-epoch batches", positive=True)
    steps_per_epoch: int = option(500, "batches of random windows per epoch", positive=True)
    batch_size: int = option(32, "windows per update", positive=True)
    sequence_length: int = option(128, "context length in tokens", positive=True)
    embedding_dim: int = width_option(128)
    num_heads: int = heads_option(4)
    layers: int = blocks_option(4)
    dropout: float = dropout_option(0.1)
    tie_weights: bool = option(
        True, "separate output layer instead of the tied token embedding", flag="--no-tie-weights"
    )
    learning_rate: float = option(1e-3, "peak AdamW rate; cosine decay to 1e-4", above=0)
    min_learning_rate: float = 1e-4
    warmup_steps: int = option(100, "learning-rate warm-up, updates", positive=True)
    weight_decay: float = option(0.1, "AdamW weight decay", min=0)
    seed: int = seed_option()
    prompt: str = option("It is a truth", "text continued in each epoch's sample")
    sample_tokens: int = 200
    temperature: float = 0.8
    top_k: int | None = 40
    val_tokens: int = option(100_000, "validation tokens scored after each epoch (0: all)", min=0)

    _positive = ("sample_tokens",)

    def validate(self) -> None:
        super().validate()
        self.check_heads()
        if not self.prompt:
            raise UserError("the epoch-sample prompt is empty: give --prompt some text.")


INFO = RecipeInfo(
    "gpt",
    "keraslab.recipes.gpt",
    "mini GPT (char or subword) on Jane Austen or --text FILE; perplexity, sampled text",
    ("austen",),
    "austen",
    Config,
    {"generate": GenerateOptions, "evaluate": CheckpointOptions, "export": ExportOptions},
    kind="text",
)
