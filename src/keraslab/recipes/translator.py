"""Recipe ``translator``: an English→Spanish Transformer, trained on Bible verse pairs (or your own
TSV of pairs), translated greedily or with beam search, scored with BLEU and chrF.

A run holds, besides the usual ``config.json``, ``metrics.jsonl`` and ``checkpoints/``:
``tokenizer.json`` (the BPE vocabulary learnt from the training split), ``samples/epoch_NNN.txt``
(a few validation verses translated after each epoch) and curves of the validation scores.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import keras
import numpy as np

from keraslab.data.batches import TranslationBatches
from keraslab.data.text import SubwordTokenizer, pad_batch
from keraslab.data.translation import load_translation_pairs
from keraslab.errors import UserError
from keraslab.io import atomic_path
from keraslab.metrics.text import translation_scores
from keraslab.models.translator import Translator, WarmupInverseSqrt
from keraslab.recipes.base import Job, Recipe
from keraslab.recipes.specs.translator import Config
from keraslab.runs import Run, load_run_tokenizer

METHODS = ("greedy", "beam")


# ---- data ------------------------------------------------------------------------------------
def load_data(config: Config):
    """Train/val/test pairs: the Bible split by book, or the user's TSV split by hash."""
    source = config.pairs if config.pairs else config.dataset
    data = load_translation_pairs(source)
    if config.subset is not None and config.subset < len(data.train):
        idx = np.sort(np.random.default_rng(config.seed).permutation(len(data.train)))
        data = data._replace(train=[data.train[i] for i in idx[: config.subset]])
    if not data.val or not data.test:
        raise UserError(
            f"{source}: the validation or test part is empty: give at least ~100 pairs."
        )
    if getattr(config, "direction", "en-es") == "es-en":  # the same split, translated back

        def swap(pairs):
            return [(b, a) for a, b in pairs]

        data = data._replace(train=swap(data.train), val=swap(data.val), test=swap(data.test))
    return data


def encode_pairs(tokenizer: SubwordTokenizer, pairs, max_tokens: int):
    """Source and target id lists of the pairs that fit ``max_tokens``; and how many did not."""
    src = tokenizer.encode_batch([en for en, _ in pairs])
    tgt = tokenizer.encode_batch([es for _, es in pairs])
    keep = [i for i in range(len(pairs)) if len(src[i]) <= max_tokens and len(tgt[i]) < max_tokens]
    return [src[i] for i in keep], [tgt[i] for i in keep], len(pairs) - len(keep)


def build_model(config: Config, vocabulary_size: int) -> Translator:
    model = Translator(
        vocabulary_size=vocabulary_size,
        sequence_length=config.max_tokens,
        embedding_dim=config.embedding_dim,
        num_heads=config.num_heads,
        intermediate_dim=config.intermediate_dim,
        encoder_layers=config.layers,
        decoder_layers=config.layers,
        dropout=config.dropout,
        norm_first=config.norm == "pre",
        positions=config.positions,
        label_smoothing=config.label_smoothing,
        start_id=SubwordTokenizer.start_id,
        end_id=SubwordTokenizer.end_id,
        pad_id=SubwordTokenizer.pad_id,
    )
    schedule = WarmupInverseSqrt(config.learning_rate, config.warmup_steps)
    model.compile(
        optimizers={
            "translator": keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.98, epsilon=1e-9)
        }
    )
    return model


# ---- translating -----------------------------------------------------------------------------
def translate_sentences(
    model: Translator,
    tokenizer: SubwordTokenizer,
    sentences,
    method: str = "greedy",
    beam_width: int = 4,
    length_penalty: float = 0.6,
    use_cache: bool = True,
    batch_size: int = 64,
    truncate: bool = True,
    progress=None,
) -> tuple[list[str], int]:
    """Translations of ``sentences`` (in order) and how many sources were cut to fit the model.

    With ``truncate=False`` a too-long sentence raises :class:`UserError` instead.
    """
    if method not in METHODS:
        raise UserError(f"--method must be one of {', '.join(METHODS)}, got {method!r}.")
    if beam_width < 1:
        raise UserError(f"--beam-width must be a positive integer, got {beam_width}.")
    ids = tokenizer.encode_batch(list(sentences))
    cut = 0
    for i, seq in enumerate(ids):
        if len(seq) > model.sequence_length:
            if not truncate:
                raise UserError(
                    f"sentence {i + 1} has {len(seq)} subword tokens; this model reads at most "
                    f"{model.sequence_length}: split it, or pass --truncate to cut it."
                )
            ids[i] = seq[: model.sequence_length]
            cut += 1
    order = np.argsort([len(s) for s in ids], kind="stable")  # similar lengths batch together
    out = [""] * len(ids)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        longest = max(len(ids[i]) for i in rows)
        length = min(-(-longest // 16) * 16, model.sequence_length)  # few shapes: few compiles
        batch = pad_batch([ids[i] for i in rows], length, pad_id=tokenizer.pad_id)
        result = model.translate_ids(
            batch,
            method=method,
            beam_width=beam_width,
            length_penalty=length_penalty,
            use_cache=use_cache,
        )
        for i, tokens in zip(rows, result):
            out[i] = tokenizer.decode(tokens)
        if progress:
            progress(min(start + batch_size, len(order)), len(order))
    return out, cut


class Validation(keras.callbacks.Callback):
    """After each epoch: validation loss/accuracy, greedy BLEU/chrF on the first
    ``n`` validation verses, and ``samples/epoch_NNN.txt`` with a few of them translated."""

    def __init__(self, tokenizer, pairs, samples_dir, max_length, n=200, batch_size=64, shown=6):
        super().__init__()
        self.tokenizer, self.pairs, self.n = tokenizer, list(pairs), n
        self.samples_dir, self.batch_size, self.shown = Path(samples_dir), batch_size, shown
        src, tgt, _ = encode_pairs(tokenizer, self.pairs, 10**9)
        self.batches = TranslationBatches(
            src, tgt, batch_size, tokenizer.start_id, tokenizer.end_id, shuffle=False,
            max_length=max_length,
        )  # fmt: skip

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        # Means over the target tokens (Keras's evaluate, the phase loss without smoothing).
        scores = self.model.evaluate(self.batches, return_dict=True, verbose=0)
        logs["val_loss"], logs["val_accuracy"] = scores["translator_loss"], scores["accuracy"]
        pairs = self.pairs[: self.n]
        hyps, _ = translate_sentences(
            self.model, self.tokenizer, [en for en, _ in pairs], batch_size=self.batch_size
        )
        scores = translation_scores(hyps, [es for _, es in pairs])
        logs["val_bleu"], logs["val_chrf"] = scores["bleu"], scores["chrf"]
        lines = [f"epoch {epoch + 1}: val BLEU {scores['bleu']:.2f}  chrF {scores['chrf']:.2f}\n"]
        for (en, es), hyp in list(zip(pairs, hyps))[: self.shown]:
            lines.append(f"\nEN   {en}\nREF  {es}\nOUT  {hyp}\n")
        path = self.samples_dir / f"epoch_{epoch + 1:03d}.txt"
        with atomic_path(path) as tmp:
            tmp.write_text("".join(lines), encoding="utf-8")
        print(
            f"epoch {epoch + 1}: val loss {logs['val_loss']:.3f}, val BLEU {scores['bleu']:.2f}, "
            f"chrF {scores['chrf']:.2f}; {hyps[0]!r}",
            file=sys.stderr,
        )


# ---- the recipe ------------------------------------------------------------------------------
class TranslatorRecipe(Recipe):
    model_parallel = True
    name = "translator"
    Config = Config
    monitor = "val_chrf"
    monitor_mode = "max"
    curves = ("val_chrf", "val_bleu", "val_loss")

    def load_data(self, config: Config):
        return load_data(config)

    def make_assets(self, job: Job):
        job.echo(f"data: {job.data.split}")
        t0 = time.time()
        tokenizer = SubwordTokenizer.train(
            [s for pair in job.data.train for s in pair], vocabulary_size=job.config.vocab_size
        )
        tokenizer.save(job.run.path / "tokenizer.json")
        job.echo(f"tokenizer: {tokenizer.vocabulary_size} subwords ({time.time() - t0:.1f} s)")
        return tokenizer

    def load_assets(self, run: Run, config: Config):
        return load_run_tokenizer(run, SubwordTokenizer.load)

    def build_model(self, config: Config, assets=None, data=None) -> Translator:
        return build_model(config, assets.vocabulary_size)

    def initialize(self, job: Job) -> None:
        job.echo(f"model: {job.model.count_params():,} parameters")

    def fit_inputs(self, job: Job) -> dict:
        config, tokenizer = job.config, job.assets
        src, tgt, dropped = encode_pairs(tokenizer, job.data.train, config.max_tokens)
        if dropped:
            job.echo(
                f"skipping {dropped} training pairs longer than --max-tokens {config.max_tokens}"
            )
        batches = TranslationBatches(
            src, tgt, config.batch_size, tokenizer.start_id, tokenizer.end_id, seed=config.seed
        ).start_at(job.initial_epoch)
        job.notes["train_tokens"] = sum(len(s) + len(t) + 1 for s, t in zip(src, tgt))
        job.echo(
            f"training on {len(src):,} pairs ({job.notes['train_tokens']:,} tokens) in {len(batches)} "
            "batches per epoch"
        )
        return {"x": batches}

    def callbacks(self, job: Job) -> list:
        c = job.config
        return [
            Validation(job.assets, job.data.val, job.run.samples, c.val_sentences, c.batch_size)
        ]

    def summarize(self, job: Job, seconds: float) -> dict:
        tokens = job.notes["train_tokens"] * (job.config.epochs - job.initial_epoch)
        summary = {"train_tokens_per_second": round(tokens / max(seconds, 1e-9), 1)}
        job.echo("translating the test split (greedy) ...")
        test = job.data.test
        hyps, cut = translate_sentences(job.model, job.assets, [en for en, _ in test])
        scores = translation_scores(hyps, [es for _, es in test])
        summary.update({f"test_{k}": v for k, v in scores.items() if k in ("bleu", "chrf")})
        summary["test_sentences"] = scores["sentences"]
        summary["test_truncated"] = cut
        job.echo(
            f"test ({scores['sentences']} sentences, greedy): BLEU {scores['bleu']:.2f}, "
            f"chrF {scores['chrf']:.2f}"
        )
        return summary

    def translate(
        self,
        run_path: str,
        sentences,
        method: str = "greedy",
        beam_width: int = 4,
        length_penalty: float = 0.6,
        use_cache: bool = True,
        truncate: bool = False,
        which: str = "last",
        warn=print,
    ) -> list[str]:
        """Translate ``sentences`` with a trained run (English to Spanish, or back for a
        ``--direction es-en`` run); one line per sentence."""
        run = self.open(run_path)
        sentences = list(sentences)
        if not sentences:
            raise UserError("nothing to translate: give a sentence, or lines on standard input.")
        for i, s in enumerate(sentences):
            if not s.strip():
                raise UserError(f"sentence {i + 1} is empty: give text to translate.")
        job = self.load(run, which)
        out, cut = translate_sentences(
            job.model, job.assets, sentences, method, beam_width, length_penalty, use_cache,
            truncate=truncate,
        )  # fmt: skip
        if cut:
            warn(
                f"warning: {cut} sentence(s) longer than {job.model.sequence_length} subword "
                "tokens were cut"
            )
        return out

    def evaluate(
        self,
        run_path: str,
        n: int | None = None,
        which: str = "last",
        method: str = "greedy",
        beam_width: int = 4,
        length_penalty: float = 0.6,
        echo=print,
    ) -> dict:
        """BLEU and chrF (sacrebleu) on the run's held-out test split; saved in evaluation.json."""
        job = self.load(self.open(run_path), which)
        data = load_data(job.config)
        test = data.test if n is None else data.test[:n]
        echo(f"translating {len(test)} test sentences ({method}) ...")
        t0 = time.time()

        def progress(done, total):
            print(f"\r  {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

        hyps, cut = translate_sentences(
            job.model, job.assets, [en for en, _ in test], method, beam_width, length_penalty,
            progress=progress,
        )  # fmt: skip
        seconds = time.time() - t0
        result = translation_scores(hyps, [es for _, es in test])
        decoding = "greedy" if method == "greedy" else f"beam {beam_width}, alpha {length_penalty}"
        result.update(
            {
                "method": decoding,
                "checkpoint": which,
                "split": data.split,
                "truncated": cut,
                "sentences_per_second": round(len(test) / max(seconds, 1e-9), 2),
            }
        )
        key = f"{method}{beam_width if method == 'beam' else ''}-{which}-{len(test)}"
        self.save_evaluation(job.run, key, result)
        with atomic_path(job.run.path / f"test-{key}.txt") as tmp:
            tmp.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
        return result

    @staticmethod
    def format_evaluation(r: dict) -> str:
        return (
            f"BLEU {r['bleu']:.2f}  chrF {r['chrf']:.2f}  ({r['sentences']} test sentences, "
            f"{r['method']}, {r['checkpoint']} checkpoint, {r['sentences_per_second']} "
            "sentences/s)"
        )


RECIPE = TranslatorRecipe()


def backtranslate(sentences, forward: str, back: str, decode: str = "greedy", warn=print):
    """Paraphrases of ``sentences`` through a pivot language: translated with the translator run
    ``forward`` (e.g. English to Spanish), then back with ``back`` (its ``--direction``
    opposite). One paraphrase per sentence; long sentences are cut with a warning."""
    from keraslab.runs import open_run, require_recipe

    directions = []
    for path in (forward, back):
        run = open_run(path)
        require_recipe(run, "translator")
        directions.append(run.config.get("direction", "en-es"))
    if directions[0] == directions[1]:
        raise UserError(
            f"--back must translate the other way: both runs are {directions[0]} (train one with "
            f"`keraslab train translator --direction {directions[0][3:]}-{directions[0][:2]}`)."
        )
    pivot = RECIPE.translate(forward, sentences, method=decode, truncate=True, warn=warn)
    return RECIPE.translate(back, pivot, method=decode, truncate=True, warn=warn)
