"""Subword tokenisation (BPE, trained on your own text) and padded id batches.

Built on the ``tokenizers`` package (Rust; no TensorFlow needed on the JAX and PyTorch
backends). Text is NFKC-normalised, split at spaces (kept as ``▁`` so decoding restores them)
and at punctuation, then BPE-merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from keraslab.io import atomic_path

PAD, UNK, START, END = "[PAD]", "[UNK]", "[START]", "[END]"
SPECIAL_TOKENS = (PAD, UNK, START, END)  # ids 0, 1, 2, 3
CLS, SEP, MASK = "[CLS]", "[SEP]", "[MASK]"
BERT_SPECIAL_TOKENS = (CLS, SEP, MASK)  # ids 4, 5, 6 when passed to SubwordTokenizer.train


class SubwordTokenizer:
    """A byte-pair-encoding tokenizer with ``[PAD]=0, [UNK]=1, [START]=2, [END]=3``.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (use :meth:`train` or :meth:`load`).

    Example:
        >>> tok = SubwordTokenizer.train(english + spanish, vocabulary_size=8000)
        >>> ids = tok.encode("In the beginning was the Word.")
        >>> tok.decode(ids)
        'In the beginning was the Word.'
        >>> tok.save("tokenizer.json")
    """

    pad_id, unk_id, start_id, end_id = 0, 1, 2, 3

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        for i, token in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(token) != i:
                raise ValueError(f"tokenizer must map {token} to id {i}.")
        self._extra_special = {
            tokenizer.token_to_id(t) for t in BERT_SPECIAL_TOKENS if tokenizer.token_to_id(t)
        }

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocabulary_size: int = 8000,
        min_frequency: int = 2,
        extra_special_tokens: Sequence[str] = (),
    ) -> SubwordTokenizer:
        """Learn BPE merges from ``texts`` (e.g. both sides of the training pairs).

        ``extra_special_tokens`` (e.g. ``BERT_SPECIAL_TOKENS``) get the ids after ``[END]``, in
        order, and are never split or merged."""
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE(unk_token=UNK))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()]
        )
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(
            vocab_size=vocabulary_size,
            min_frequency=min_frequency,
            special_tokens=[*SPECIAL_TOKENS, *extra_special_tokens],
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        return cls(tok)

    @classmethod
    def load(cls, path) -> SubwordTokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)))

    def save(self, path) -> Path:
        with atomic_path(path) as tmp:
            self.tokenizer.save(str(tmp))
        return Path(path)

    @property
    def vocabulary_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def token_id(self, token: str) -> int:
        """Id of a special token (e.g. ``"[MASK]"``); ValueError if the vocabulary lacks it."""
        i = self.tokenizer.token_to_id(token)
        if i is None:
            raise ValueError(f"this tokenizer has no {token} token.")
        return int(i)

    @property
    def special_ids(self) -> list[int]:
        """Ids of the special tokens (``[PAD]`` .. ``[END]``, and ``[CLS]``/``[SEP]``/``[MASK]``
        when the tokenizer has them)."""
        return sorted({0, 1, 2, 3} | self._extra_special)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, stopping at ``[END]`` and dropping the other special tokens."""
        kept = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i > self.end_id and i not in self._extra_special:
                kept.append(i)
        return self.tokenizer.decode(kept)


def pad_batch(sequences: Sequence[Sequence[int]], length: int | None = None, pad_id: int = 0):
    """``(n, length)`` int32 array, right-padded with ``pad_id`` (length: the longest)."""
    length = max((len(s) for s in sequences), default=0) if length is None else length
    out = np.full((len(sequences), length), pad_id, dtype="int32")
    for i, s in enumerate(sequences):
        s = list(s)[:length]
        out[i, : len(s)] = s
    return out


def bert_sequences(tokenizer: SubwordTokenizer, texts: Sequence[str], sequence_length: int):
    """``[CLS] tokens [SEP]`` id lists, each cut to ``sequence_length`` (the tokenizer must have
    ``BERT_SPECIAL_TOKENS``)."""
    cls_id, sep_id = tokenizer.token_id(CLS), tokenizer.token_id(SEP)
    room = sequence_length - 2
    return [[cls_id, *ids[:room], sep_id] for ids in tokenizer.encode_batch(list(texts))]


def sentence_pairs(
    tokenizer: SubwordTokenizer, texts: Sequence[str], sequence_length: int, rng
) -> tuple[list[list[int]], list[list[int]], np.ndarray]:
    """Next-sentence examples: each text (2+ tokens) split in halves A and B at its middle token;
    half of the time B is replaced by the second half of another random text.

    Returns:
        ``(ids, segments, is_next)``: ``[CLS] A [SEP] B [SEP]`` id lists, their segment ids
        (0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``), and 1 where B really follows A.
    """
    cls_id, sep_id = tokenizer.token_id(CLS), tokenizer.token_id(SEP)
    encoded = [e for e in tokenizer.encode_batch(list(texts)) if len(e) >= 2]
    if len(encoded) < 2:
        raise ValueError("next-sentence pairs need at least two texts of 2+ tokens.")
    halves = [(e[: len(e) // 2], e[len(e) // 2 :]) for e in encoded]
    is_next = (rng.random(len(halves)) < 0.5).astype("int32")
    others = rng.integers(0, len(halves) - 1, len(halves))
    ids, segments = [], []
    room = sequence_length - 3
    for i, (a, b) in enumerate(halves):
        if not is_next[i]:
            j = others[i] + (others[i] >= i)  # any text but this one
            b = halves[j][1]
        a, b = a[: max(room - min(len(b), room // 2), room // 2)], b
        b = b[: room - len(a)]
        ids.append([cls_id, *a, sep_id, *b, sep_id])
        segments.append([0] * (len(a) + 2) + [1] * (len(b) + 1))
    return ids, segments, is_next
