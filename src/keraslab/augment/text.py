"""Text augmentation: EDA (Wei & Zou, 2019, "EDA: Easy Data Augmentation Techniques for Boosting
Performance on Text Classification Tasks") with WordNet synonyms, offline.

The four operations, each with its rate (:class:`EDARates`): synonym replacement (``synonyms``
of the words, stop words excepted, get a random WordNet synonym), random insertion (a synonym of
a random word at a random place, ``insert`` times the length), random swap (``swap`` times the
length), random deletion (each word with probability ``delete``; never all of them). As in the
paper each copy applies one operation (they take turns) and a rate above 0 changes at least one
word; all rates 0 give the sentence back unchanged. Words keep their punctuation and a capital
first letter. Seeded per sentence: sentence ``i`` with seed ``s`` always gives the same copies.

Example:
    >>> augment_texts(["The movie was great fun."], n=2, rates=EDARates(), seed=0)
    [['The film was great fun.', 'The movie was great merriment fun.']]
"""

from __future__ import annotations

import functools
import re

import numpy as np

from keraslab.augment.specs import EDARates
from keraslab.errors import UserError

__all__ = ["EDARates", "augment_texts", "eda", "wordnet_synonyms"]

# The stop words of the EDA paper's code (NLTK's English list), never replaced by synonyms.
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which who
    whom this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against between
    into through during before after above below to from up down in out on off over under again
    further then once here there when where why how all any both each few more most other some
    such no nor not only own same so than too very s t can will just don should now""".split()
)
_WORD = re.compile(r"^(\W*)(.*?)(\W*)$")


@functools.lru_cache(maxsize=100_000)
def wordnet_synonyms(word: str) -> tuple[str, ...]:
    """WordNet synonyms of ``word`` (lemmas of all its synsets, lower case, without the word
    itself), in WordNet's order."""
    from keraslab.data.wordnet import wordnet

    seen, out = {word.lower()}, []
    for synset in wordnet().synsets(word.lower()):
        for lemma in synset.lemmas():
            name = lemma.name().replace("_", " ").replace("-", " ").lower()
            if name not in seen and all(c.isalpha() or c == " " for c in name):
                seen.add(name)
                out.append(name)
    return tuple(out)


def _count(rate: float, n_words: int) -> int:
    return 0 if rate <= 0 else max(1, int(rate * n_words))


def _split(token: str) -> tuple[str, str, str]:
    return _WORD.match(token).groups()


def _like(original: str, new: str) -> str:
    return new[:1].upper() + new[1:] if original[:1].isupper() else new


def _candidates(tokens):
    """Indices of tokens whose word may get a synonym (letters, not a stop word)."""
    return [
        i
        for i, t in enumerate(tokens)
        if _split(t)[1].isalpha() and _split(t)[1].lower() not in STOP_WORDS
    ]


def _synonym_replacement(tokens, count, rng, synonyms):
    tokens = list(tokens)
    words = list(dict.fromkeys(_split(tokens[i])[1].lower() for i in _candidates(tokens)))
    rng.shuffle(words)
    replaced = 0
    for word in words:
        options = synonyms(word)
        if not options:
            continue
        new = options[rng.integers(len(options))]
        for i, t in enumerate(tokens):
            pre, w, post = _split(t)
            if w.lower() == word:
                tokens[i] = pre + _like(w, new) + post
        replaced += 1
        if replaced >= count:
            break
    return tokens


def _random_insertion(tokens, count, rng, synonyms):
    tokens = list(tokens)
    for _ in range(count):
        for _attempt in range(10):  # a word with synonyms, as the paper tries
            candidates = _candidates(tokens)
            if not candidates:
                return tokens
            word = _split(tokens[candidates[rng.integers(len(candidates))]])[1]
            options = synonyms(word.lower())
            if options:
                tokens.insert(
                    int(rng.integers(len(tokens) + 1)), options[rng.integers(len(options))]
                )
                break
    return tokens


def _random_swap(tokens, count, rng):
    tokens = list(tokens)
    if len(tokens) < 2:
        return tokens
    for _ in range(count):
        i, j = rng.choice(len(tokens), size=2, replace=False)
        tokens[i], tokens[j] = tokens[j], tokens[i]
    return tokens


def _random_deletion(tokens, p, rng):
    if p <= 0 or len(tokens) == 1:
        return list(tokens)
    kept = [t for t in tokens if rng.random() >= p]
    return kept or [tokens[rng.integers(len(tokens))]]  # never an empty sentence


def eda(sentence: str, n: int, rates: EDARates, rng, synonyms=wordnet_synonyms) -> list[str]:
    """``n`` EDA copies of ``sentence`` (whitespace-separated words), drawn from ``rng``."""
    tokens = sentence.split()
    if not tokens:
        return [sentence] * n
    ops = [
        name
        for name, rate in (
            ("synonyms", rates.synonyms),
            ("insert", rates.insert),
            ("swap", rates.swap),
            ("delete", rates.delete),
        )
        if rate > 0
    ]
    if not ops:
        return [sentence] * n
    out = []
    for k in range(n):
        op = ops[k % len(ops)]
        if op == "synonyms":
            new = _synonym_replacement(tokens, _count(rates.synonyms, len(tokens)), rng, synonyms)
        elif op == "insert":
            new = _random_insertion(tokens, _count(rates.insert, len(tokens)), rng, synonyms)
        elif op == "swap":
            new = _random_swap(tokens, _count(rates.swap, len(tokens)), rng)
        else:
            new = _random_deletion(tokens, rates.delete, rng)
        out.append(" ".join(new))
    return out


def augment_texts(
    texts, n: int = 4, rates: EDARates | None = None, seed: int = 0, synonyms=wordnet_synonyms
) -> list[list[str]]:
    """``n`` EDA copies of each text (a list per text); text ``i`` is drawn from ``(seed, i)``."""
    rates = rates or EDARates()
    rates.validate()
    if n < 1:
        raise UserError(f"n must be a positive integer, got {n}.")
    return [
        eda(text, n, rates, np.random.default_rng([seed, i]), synonyms)
        for i, text in enumerate(texts)
    ]


def read_sentences(path) -> list[str]:
    """The non-blank lines of a UTF-8 file (``-``: standard input), one-line errors."""
    import sys
    from pathlib import Path

    if str(path) == "-":
        raw, name = sys.stdin.buffer.read(), "standard input"
    else:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"{p} is not a file: give a UTF-8 text file, one sentence per line.")
        raw, name = p.read_bytes(), str(p)
    from keraslab.io import decode_utf8

    text = decode_utf8(raw, name)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise UserError(f"{name} holds no sentences.")
    return lines


def augment_file(path, out, options, echo=print, paraphrase=None) -> int:
    """``keraslab augment text``: ``options.n`` copies of every line of ``path`` written to
    ``out`` (with the originals before their copies when ``options.keep``). Returns the lines
    written; refuses an existing ``out``.

    ``paraphrase``: for ``options.method == "backtranslate"``, a function from the list of
    sentences to one paraphrase of each (e.g. :func:`keraslab.recipes.translator.backtranslate`
    with two translator runs)."""
    from pathlib import Path

    from keraslab.io import atomic_path

    out = Path(out)
    if out.exists():
        raise UserError(f"{out} exists: choose another --out (nothing was written).")
    sentences = read_sentences(path)
    if options.method == "backtranslate":
        if paraphrase is None:
            raise ValueError("method backtranslate needs paraphrase= (a function of sentences).")
        copies = [[c] for c in paraphrase(sentences)]
    else:
        rates = EDARates(options.synonyms, options.insert, options.swap, options.delete)
        copies = augment_texts(sentences, options.n, rates, options.seed)
    lines = []
    for sentence, new in zip(sentences, copies):
        lines += ([sentence] if options.keep else []) + new
    with atomic_path(out) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    echo(f"{len(sentences)} sentences -> {len(lines)} lines in {out}")
    return len(lines)
