"""WordNet 3.0 offline, for synonym replacement (text augmentation).

Debian's ``wordnet-base`` and ``wordnet-sense-index`` packages install the database in
``/usr/share/wordnet/`` (``$KERASLAB_WORDNET_DIR`` to point elsewhere); nltk's reader needs
them in an ``nltk_data/corpora/wordnet`` folder with a ``lexnames`` file Debian does not ship.
:func:`wordnet` copies the files once into ``$KERASLAB_CACHE/nltk_data`` (default
``~/.cache/keraslab``), writes ``lexnames`` from the WordNet manual's table, and returns nltk's
reader. Nothing is downloaded.

Example:
    >>> wn = wordnet()
    >>> sorted({l.name() for s in wn.synsets("car") for l in s.lemmas()})[:3]
    ['auto', 'automobile', 'cable_car']
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from keraslab.data.images import DataSourceMissing

INSTALL = "sudo apt-get install -y wordnet-base wordnet-sense-index && pip install nltk"
FILES = [f"{kind}.{pos}" for kind in ("data", "index") for pos in ("adj", "adv", "noun", "verb")]
FILES += [f"{pos}.exc" for pos in ("adj", "adv", "noun", "verb")] + ["cntlist.rev", "index.sense"]

# WordNet's lexicographer files (lexnames(5WN)): number, name; the part of speech follows from
# the name (1 noun, 2 verb, 3 adjective, 4 adverb).
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def source_dir() -> Path:
    return Path(os.environ.get("KERASLAB_WORDNET_DIR", "/usr/share/wordnet"))


def installed() -> bool:
    return all((source_dir() / f).is_file() for f in FILES)


def _cache_root() -> Path:
    return Path(os.environ.get("KERASLAB_CACHE", "~/.cache/keraslab")).expanduser() / "nltk_data"


def _prepare(root: Path) -> None:
    """Copy the database into ``root/corpora/wordnet`` (copies, not links: nltk refuses paths
    that leave its root) and write ``lexnames``; a finished folder is marked by ``lexnames``."""
    from keraslab.io import atomic_path

    folder = root / "corpora" / "wordnet"
    if (folder / "lexnames").is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        with atomic_path(folder / name) as tmp:
            shutil.copyfile(source_dir() / name, tmp)
    lines = "".join(
        f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES)
    )
    with atomic_path(folder / "lexnames") as tmp:
        tmp.write_text(lines)


@functools.lru_cache(maxsize=1)
def wordnet():
    """nltk's WordNet reader on the offline database (a few seconds the first time)."""
    if not installed():
        raise DataSourceMissing(f"WordNet is not installed in {source_dir()}: {INSTALL}")
    try:
        import nltk
    except ImportError:
        raise DataSourceMissing(f"nltk is not installed: {INSTALL}") from None
    root = _cache_root()
    _prepare(root)
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))  # nltk reads only from its data path
    from nltk.corpus import wordnet as reader

    reader.ensure_loaded()
    return reader
