"""Transfer learning: pretrained networks loaded offline, freezing, new heads, two-stage
fine-tuning, Houlsby adapters and LoRA (``keraslab.transfer.finetune``)."""
