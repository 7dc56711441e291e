from __future__ import annotations

from dataclasses import dataclass

from keraslab.errors import UserError
from keraslab.options import Settings, option, seed_option
from keraslab.recipes.specs import RecipeInfo
from keraslab.recipes.specs.commands import NoOptions

AUTOENCODERS = ("ca0", "ca1", "ca2", "ca3")
BASELINES = ("ipca", "pca", "ff")
# Windows (train, validation, refit-every months) of the built-in data sets.
DEFAULT_WINDOWS = {"sim": (60, 60, 60), "sim_linear": (60, 60, 60), "french": (240, 120, 180)}


def parse_factors(spec) -> list[int]:
    """``"1-6"``, ``"5"`` or ``"1,3,5"`` -> sorted list of factor counts."""
    text = str(spec).replace(" ", "")
    try:
        ks = set()
        for part in text.split(","):
            if "-" in part:
                lo, hi = part.split("-")
                ks.update(range(int(lo), int(hi) + 1))
            else:
                ks.add(int(part))
    except ValueError:
        raise UserError(
            f"--factors {spec!r}: give a number, a range like 1-6, or a list like 1,3,5."
        ) from None
    if not ks or min(ks) < 1:
        raise UserError(f"--factors {spec!r}: factor counts must be positive integers.")
    return sorted(ks)


def parse_names(spec: str, allowed, flag: str, none_ok: bool = False) -> list[str]:
    names = [s.strip().lower() for s in str(spec).split(",") if s.strip()]
    if none_ok and names == ["none"]:
        return []
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        extra = " or none" if none_ok else ""
        raise UserError(
            f"{flag} {spec!r}: choose from {', '.join(allowed)}{extra} (comma-separated)."
        )
    return list(dict.fromkeys(names))


@dataclass
class Config(Settings):
    """Settings of an asset-pricing run (all saved in config.json)."""

    dataset: str = option("sim", "sim | sim_linear | french (or use --data)")
    panel: str | None = option(
        None, "sim | sim-linear | french | your panel FILE.csv/.parquet", flag="--data", path=True
    )
    date_column: str = option("date", "panel file: date column")
    asset_column: str = option("asset", "panel file: asset id column")
    return_column: str = option("return", "panel file: return column")
    lag: int = option(1, "panel file: 1 = lag characteristics a month", choices=(0, 1))
    model: str = option("ca2", "autoencoders, e.g. ca2 or ca0,ca1,ca2,ca3")
    factors: str = option("1-6", "numbers of factors K: 5, 1-6 or 1,3,5")
    baselines: str = option("ipca,pca,ff", "ipca,pca,ff or none")
    ensemble: int = option(5, "seeds averaged per model", positive=True)
    seed: int = seed_option()
    l1: float = option(1e-4, "L1 penalty on the kernels", min=0)
    learning_rate: float = option(3e-3, "Adam learning rate", above=0)
    batch_size: int = option(4, "months per batch", positive=True)
    epochs: int = option(300, "at most; early stopping on the validation loss", positive=True)
    patience: int = option(20, "early-stopping patience, epochs", positive=True)
    split: str = option("expanding", "training window", choices=("expanding", "rolling"))
    train_months: int | None = option(None, "first training window", positive=True)
    val_months: int | None = option(None, "validation window", positive=True)
    refit_every: int | None = option(None, "test months between refits", positive=True)
    sim_seed: int = seed_option(1, "simulation seed")
    sim_assets: int = option(200, "simulated assets", positive=True)
    sim_months: int = option(180, "simulated months", positive=True)
    sim_characteristics: int = option(50, "simulated characteristics", positive=True)
    sim_noise: float = option(0.1, "std of the simulated noise", min=0)

    @classmethod
    def from_cli(cls, values: dict, datasets) -> dict:
        """``--data`` names a built-in data set or the path of a panel file."""
        data = values.get("panel")
        if data is not None:
            if values.get("dataset"):
                raise UserError("give --data or --dataset, not both.")
            if data.replace("-", "_").lower() in datasets:
                values = {**values, "dataset": data}
                del values["panel"]
        return values

    def validate(self) -> None:
        super().validate()
        self.ks(), self.models()
        if self.panel is None and self.dataset not in DEFAULT_WINDOWS:
            raise UserError(
                f"--data {self.dataset!r}: choose sim, sim-linear, french or a file path."
            )

    def ks(self) -> list[int]:
        return parse_factors(self.factors)

    def models(self) -> list[str]:
        cas = parse_names(self.model, AUTOENCODERS, "--model", none_ok=True)
        return cas + parse_names(self.baselines, BASELINES, "--baselines", none_ok=True)

    def windows(self, n_months: int):
        from keraslab.data.finance import time_windows

        tr, va, every = DEFAULT_WINDOWS.get(
            "panel" if self.panel else self.dataset, (n_months // 3, n_months // 6, 12)
        )
        return time_windows(
            n_months,
            self.train_months or tr,
            self.val_months or va,
            self.refit_every or every,
            self.split,
        )


INFO = RecipeInfo(
    "asset-pricing",
    "keraslab.recipes.asset_pricing",
    "conditional autoencoders CA0-CA3 (Gu, Kelly & Xiu) vs IPCA/PCA/FF; R2 table for K=1..6",
    ("sim", "sim_linear", "french"),
    "sim",
    Config,
    {"evaluate": NoOptions},
    kind="tabular",
    default_backend="jax",  # 13x the torch backend's epochs/s for this small model (BENCHMARKS.md)
)
