"""Rule-based baseline for English→Spanish: apertium on the Bible test split (John + Acts).

Translates the English side with ``apertium -u eng-spa`` (one sentence per line; ``-u`` drops the
unknown-word marks) and scores it against the Reina-Valera 1909 references with sacrebleu's
corpus BLEU and chrF. This is the bar a trained translator must clear on the same split.

    python benchmarks/apertium_baseline.py [--limit N]

Needs ``sudo apt-get install -y apertium apertium-eng-spa`` and ``pip install sacrebleu``; the
Bible pairs are read through ``keraslab.data.translation`` (cached after the first run).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

from keraslab.data import DataSourceMissing
from keraslab.data.translation import load_translation_pairs


def translate(sentences: list[str]) -> list[str]:
    """English sentences → Spanish with apertium, one line in, one line out."""
    text = "".join(s.replace("\n", " ") + "\n" for s in sentences)
    result = subprocess.run(
        ["apertium", "-u", "eng-spa"], input=text, capture_output=True, text=True, check=True
    )
    lines = result.stdout.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(sentences):
        raise RuntimeError(f"apertium returned {len(lines)} lines for {len(sentences)} sentences")
    return [line.strip() for line in lines]


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N test pairs")
    args = p.parse_args()
    if shutil.which("apertium") is None:
        print("apertium is not installed: run `sudo apt-get install -y apertium apertium-eng-spa`")
        return 2
    try:
        import sacrebleu
    except ImportError:
        print("sacrebleu is not installed: run `pip install sacrebleu`")
        return 2
    try:
        test = load_translation_pairs("bible").test
    except DataSourceMissing as e:
        print(e)
        return 2
    test = test[: args.limit] if args.limit else test
    english = [en for en, _ in test]
    references = [es for _, es in test]
    start = time.perf_counter()
    hypotheses = translate(english)
    seconds = time.perf_counter() - start
    bleu = sacrebleu.corpus_bleu(hypotheses, [references])
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    print(f"BLEU {bleu.score:.1f}")
    print(f"chrF {chrf.score:.1f}")
    print(f"sentences {len(test)}")
    print(f"sentences/s {len(test) / seconds:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
