"""Settings declared once. A recipe's ``Config`` (and each command's options) is a dataclass;
a field made with :func:`option` carries its help text, range and choices, and from that one
declaration come the command-line flag (``keraslab.cli`` generates its parsers from these
fields), the range checks with their one-line messages, and ``config.json``. Fields made
without :func:`option` are settings too (saved, read back) but not flags.

Keras-free: the CLI reads these declarations before it chooses a backend.

Example:
    >>> @dataclass
    ... class Config(Settings):
    ...     epochs: int = option(5, "passes over the training data", positive=True)
    ...     norm: str = option("pre", "block normalisation", choices=("pre", "post"))
    >>> Config(epochs=0).validate()  # UserError: --epochs must be a positive integer, got 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from keraslab.errors import UserError

_MISSING = object()


@dataclass(frozen=True)
class OptionInfo:
    """What :func:`option` records about a field (``dataclasses.Field.metadata["option"]``)."""

    help: str
    choices: tuple | None = None
    positive: bool = False  # an integer >= 1
    min: float | None = None  # inclusive lower bound
    above: float | None = None  # exclusive lower bound
    below: float | None = None  # exclusive upper bound
    max: float | None = None  # inclusive upper bound
    path: bool = False  # a user's file or folder: made absolute before it is saved
    flag: str | None = None  # the flag when it is not --field-name
    aliases: tuple[str, ...] = ()  # older flags that still work
    metavar: str | None = None
    required: bool = False
    none_flag: tuple[str, str] | None = None  # (flag, help) of a switch that sets the field to None
    # What a command writes at this path, checked before any work (keraslab.cli): "dir" a folder
    # (must be creatable), "file" a file (its folder writable), "new" a file that must not exist
    # yet (unless the options' --force), "keras" a new .keras model file.
    output: str | None = None


def option(
    default: Any = None,
    help: str = "",
    *,
    choices=None,
    positive: bool = False,
    min: float | None = None,
    above: float | None = None,
    below: float | None = None,
    max: float | None = None,
    path: bool = False,
    flag: str | None = None,
    aliases: tuple[str, ...] = (),
    metavar: str | None = None,
    required: bool = False,
    none_flag: tuple[str, str] | None = None,
    output: str | None = None,
):
    """A dataclass field that is also a command-line option (see the module docstring)."""
    info = OptionInfo(
        help,
        tuple(choices) if choices is not None else None,
        positive,
        min,
        above,
        below,
        max,
        path,
        flag,
        tuple(aliases),
        metavar,
        required,
        none_flag,
        output,
    )
    return field(default=default, metadata={"option": info})


@dataclass(frozen=True)
class Option:
    """One declared option of a settings class: the field's name, type and default, and its
    :class:`OptionInfo`."""

    name: str
    type: str  # "int", "float", "str" or "bool" (``X | None`` is X, optional)
    default: Any
    info: OptionInfo

    @property
    def flag(self) -> str:
        return self.info.flag or "--" + self.name.replace("_", "-")

    @property
    def flags(self) -> tuple[str, ...]:
        return (self.flag, *self.info.aliases)


def _base_type(annotation) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    parts = [p.strip() for p in str(text).split("|") if p.strip() != "None"]
    return parts[0] if parts else "str"


class Settings:
    """Base of a recipe ``Config`` or a command's options (a dataclass). ``validate`` checks
    every declared range and choice; a subclass adds its own checks after ``super().validate()``.
    """

    _positive: tuple[str, ...] = ()  # more positive-integer settings that are not flags

    @classmethod
    def options(cls) -> list[Option]:
        """The declared options, in field order."""
        return [
            Option(f.name, _base_type(f.type), f.default, f.metadata["option"])
            for f in fields(cls)
            if "option" in f.metadata
        ]

    @classmethod
    def from_dict(cls, d: dict):
        """The settings saved in ``config.json`` (other keys, e.g. ``backend``, are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_cli(cls, values: dict, datasets) -> dict:
        """Map command-line values onto fields before the settings are made (default: as is)."""
        return values

    def validate(self) -> None:
        self.check_declared()

    def check_declared(self) -> None:
        """One-line UserErrors for values outside their declared range or choices."""
        for opt in self.options():
            value = getattr(self, opt.name)
            if value is None:
                continue
            check_value(opt, value)
        self.check_positive()

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


SEED_MAX = 2**32 - 1  # numpy's and Keras's seeds are unsigned 32-bit


def seed_option(default: int = 0, help: str = "random seed"):
    """A seed: an integer in 0 .. 2**32 - 1."""
    return option(default, help, min=0, max=SEED_MAX)


# The size of a Transformer, declared alike by every recipe that builds one (defaults differ).
def width_option(default: int, help: str = "model width"):
    return option(default, help, positive=True)


def heads_option(default: int):
    return option(default, "attention heads", positive=True)


def feed_forward_option(default: int):
    return option(default, "feed-forward width", positive=True)


def blocks_option(default: int, help: str = "Transformer blocks"):
    return option(default, help, positive=True)


def dropout_option(default: float = 0.1, help: str = "dropout rate"):
    return option(default, help, min=0, below=1)


def check_value(opt: Option, value) -> None:
    """UserError unless ``value`` is in ``opt``'s declared range and choices (numbers finite,
    text not empty)."""
    info, flag = opt.info, opt.flag
    if opt.type == "str" and isinstance(value, str) and not value.strip():
        leave = "" if info.required else ", or leave the option out"
        raise UserError(f"{flag} is empty: give a value (see --help){leave}.")
    if info.choices is not None and value not in info.choices:
        choices = ", ".join(str(c) for c in info.choices)
        raise UserError(f"{flag} must be one of {choices}, got {value!r}.")
    if opt.type in ("int", "float") and not isinstance(value, bool):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise UserError(f"{flag} must be a finite number, got {value}.")
        if info.positive and (int(value) != value or value < 1):
            raise UserError(f"{flag} must be a positive integer, got {value}.")
        low = ("[", info.min) if info.min is not None else ("(", info.above)
        high = (")", info.below) if info.below is not None else ("]", info.max)
        ok = (low[1] is None or (number >= low[1] if low[0] == "[" else number > low[1])) and (
            high[1] is None or (number < high[1] if high[0] == ")" else number <= high[1])
        )
        if not ok:
            raise UserError(f"{flag} must be {_range_text(low, high)}, got {value}.")


def _range_text(low, high) -> str:
    if low[1] is not None and high[1] is not None:
        return f"in {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    if low[1] is not None:
        return ("at least " if low[0] == "[" else "> ") + f"{low[1]:g}"
    return ("< " if high[0] == ")" else "at most ") + f"{high[1]:g}"
