from __future__ import annotations

from dataclasses import dataclass

from keraslab.options import dropout_option, option, seed_option
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.commands import CheckpointOptions, ExportOptions
from keraslab.recipes.specs.text_classifier import LabelledTexts

METHODS = ("frozen", "full", "adapters", "lora")
# Learning rates that worked for each method (BERT fine-tuning: 2e-5..5e-5; Houlsby: 1e-4..1e-3).
LEARNING_RATES = {"frozen": 1e-3, "full": 3e-5, "adapters": 1e-3, "lora": 5e-4}


@dataclass
class Config(LabelledTexts):
    """Settings of a finetune-text run (all saved in config.json)."""

    imbalance: str = option(
        "class-weight", "how the minority class is weighted", choices=("none", "class-weight")
    )
    method: str = option("adapters", "what is trained on the pretrained encoder", choices=METHODS)
    bottleneck: int = option(64, "adapter width", positive=True)
    lora_rank: int = option(8, "LoRA rank", positive=True)
    epochs: int = option(3, "passes over the labelled texts", positive=True)
    batch_size: int = option(32, "texts per update", positive=True)
    learning_rate: float | None = option(
        None, "Adam rate (the method's: frozen 1e-3, full 3e-5, adapters 1e-3, lora 5e-4)", above=0
    )
    sequence_length: int = option(64, "longest text in tokens ([CLS] text [SEP])", min=3)
    dropout: float = dropout_option(0.1, "dropout rate of the head")
    seed: int = seed_option()

    @property
    def lr(self) -> float:
        return self.learning_rate or LEARNING_RATES[self.method]


INFO = RecipeInfo(
    "finetune-text",
    "keraslab.recipes.finetune_text",
    "pretrained all-MiniLM-L6-v2 + new head: --method frozen, full, adapters or lora",
    ("tweets",),
    "tweets",
    Config,
    {"evaluate": CheckpointOptions, "export": ExportOptions},
    kind="text",
)
