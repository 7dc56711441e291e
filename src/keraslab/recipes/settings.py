"""What every recipe's ``Config`` dataclass shares: reading it back from a run's
``config.json`` and the checks common to many recipes. Keras-free."""

from __future__ import annotations

from dataclasses import fields

from keraslab.errors import UserError


class Settings:
    """Mixin for a recipe ``Config`` dataclass; list its positive-integer options in
    ``_positive``."""

    _positive: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict):
        """The settings saved in ``config.json`` (other keys, e.g. ``backend``, are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def check_positive(self) -> None:
        for name in self._positive:
            if int(getattr(self, name)) < 1:
                flag = name.replace("_", "-")
                raise UserError(f"--{flag} must be a positive integer, got {getattr(self, name)}.")

    def check_heads(self) -> None:
        """The model width must split evenly across the attention heads."""
        if self.embedding_dim % self.num_heads:
            raise UserError(
                f"--embedding-dim {self.embedding_dim} must be divisible by --num-heads {self.num_heads}."
            )
