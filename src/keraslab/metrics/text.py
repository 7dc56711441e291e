"""Translation metrics: corpus BLEU and chrF, computed by sacrebleu (the standard implementation,
so scores compare with published ones that use its default settings)."""

from __future__ import annotations

from collections.abc import Sequence


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Corpus BLEU (13a tokenisation) and chrF (character 6-grams, beta 2) of one reference each.

    Returns:
        ``{"bleu": float, "chrf": float, "sentences": int, "bleu_signature": str,
        "chrf_signature": str}``; scores on sacrebleu's 0-100 scale.

    Example:
        >>> translation_scores(["el gato"], ["el gato"])["chrf"]
        100.0
    """
    import sacrebleu

    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references.")
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": float(b.score),
        "chrf": float(c.score),
        "sentences": len(hypotheses),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }
