"""keraslab's EDA against nlpaug, the augmentation library users know, on the same sentences:
speed (sentences per second, one copy each) and what comes out (tokens moved, missing and new,
length, copies left unchanged, examples), for synonym replacement, random swap and random deletion at the same rate.

Both read the same offline WordNet (keraslab's copy of Debian's, :mod:`keraslab.data.wordnet`).
nlpaug's synonym augmenter filters synonyms by part of speech with NLTK's perceptron tagger,
which is a download; offline its tagger is replaced by one that tags nothing, which makes nlpaug
take the synonyms of every part of speech, as keraslab's EDA (and the EDA paper's code) does.
Rates: nlpaug's ``aug_p`` (with ``aug_min=1``, ``aug_max=None``) and keraslab's rate mean the
same number of words, ``max(1, int(rate * words))``.

    make benchmark-tables   # builds .venv-anchors, which has nlpaug
    .venv-anchors/bin/python benchmarks/augment_text_nlpaug.py --sentences 500 --rate 0.1
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from keraslab.augment.specs import EDARates
from keraslab.augment.text import augment_texts, wordnet_synonyms
from keraslab.data.sentiment import load_sentiment
from keraslab.data.wordnet import wordnet


def nlpaug_augmenters(rate):
    import nlpaug.augmenter.word as naw
    from nlpaug.model.word_dict.wordnet import WordNet

    wordnet()  # keraslab's offline copy on NLTK's path
    WordNet.pos_tag = classmethod(lambda cls, tokens: [(t, "") for t in tokens])  # no tagger
    common = {"aug_p": rate, "aug_min": 1, "aug_max": None}
    return {
        "synonyms": naw.SynonymAug(aug_src="wordnet", **common),
        "swap": naw.RandomWordAug(action="swap", **common),
        "delete": naw.RandomWordAug(action="delete", **common),
    }


def changed(original: str, new: str) -> tuple[float, float, float]:
    """Per copy, on whitespace-separated tokens: the share of the original's positions that
    differ (what a swap changes), of its tokens missing from the copy (a multiset difference:
    deletions, replacements) and of the copy's tokens that are not the original's (synonyms,
    insertions, and any re-tokenisation of the untouched text)."""
    from collections import Counter

    a, b = original.split(), new.split()
    moved = 1 - sum(x == y for x, y in zip(a, b)) / max(len(a), 1)
    missing = sum((Counter(a) - Counter(b)).values()) / max(len(a), 1)
    foreign = sum((Counter(b) - Counter(a)).values()) / max(len(b), 1)
    return moved, missing, foreign


def timed(fn, sentences, repeats=3):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(sentences)
        best = min(best, time.perf_counter() - t0)
    return out, len(sentences) / best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sentences", type=int, default=500)
    p.add_argument("--rate", type=float, default=0.1)
    p.add_argument("--examples", type=int, default=3)
    args = p.parse_args()
    texts = [t for t in load_sentiment("tweets").train_texts if len(t.split()) >= 5]
    texts = texts[: args.sentences]
    words = np.mean([len(t.split()) for t in texts])
    print(f"{len(texts)} tweets of the text classifier's training split ({words:.1f} words on "
          f"average), rate {args.rate}, one copy each, best of 3 passes")  # fmt: skip
    theirs = nlpaug_augmenters(args.rate)
    wordnet_synonyms("warm")  # load WordNet before timing (both share it)
    theirs["synonyms"].augment("warm up")
    for op in ("synonyms", "swap", "delete"):
        rates = EDARates(**{k: (args.rate if k == op else 0.0) for k in EDARates().__dict__})
        wordnet_synonyms.cache_clear()  # no head start from an earlier pass's cache

        def ours(batch, rates=rates):
            return [c[0] for c in augment_texts(batch, n=1, rates=rates, seed=0)]

        def nlpaug(batch, aug=theirs[op]):
            return [aug.augment(t)[0] for t in batch]

        mine, speed_mine = timed(ours, texts)
        other, speed_other = timed(nlpaug, texts)
        for name, out, speed in (("keraslab", mine, speed_mine), ("nlpaug", other, speed_other)):
            moved, missing, foreign = np.mean([changed(a, b) for a, b in zip(texts, out)], axis=0)
            ratio = np.mean([len(b.split()) / len(a.split()) for a, b in zip(texts, out)])
            same = np.mean([a == b for a, b in zip(texts, out)])
            print(f"  {op:8s} {name:8s} {speed:7.0f} sentences/s  positions changed {moved:.3f}  "
                  f"tokens missing {missing:.3f}  new tokens {foreign:.3f}  length x{ratio:.3f}  "
                  f"unchanged {same:.3f}", flush=True)  # fmt: skip
        for t, a, b in list(zip(texts, mine, other))[: args.examples]:
            print(f"      original: {t}\n      keraslab: {a}\n      nlpaug:   {b}")


if __name__ == "__main__":
    main()
