"""Recipe ``translator``: an English→Spanish Transformer, trained on Bible verse pairs (or your own
TSV of pairs), translated greedily or with beam search, scored with BLEU and chrF.

A run holds, besides the usual ``config.json``, ``metrics.jsonl`` and ``checkpoints/``:
``tokenizer.json`` (the BPE vocabulary learnt from the training split), ``samples/epoch_NNN.txt``
(a few validation verses translated after each epoch) and curves of the validation scores.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from keraslab.callbacks import Checkpoint, MetricsLog
from keraslab.checkpoint import load_run_checkpoint
from keraslab.data import DataSourceMissing
from keraslab.data.text import SubwordTokenizer, TranslationBatches, pad_batch
from keraslab.data.translation import load_translation_pairs
from keraslab.engine.seeding import set_seed
from keraslab.errors import UserError
from keraslab.io import atomic_path, write_json
from keraslab.metrics.text import translation_scores
from keraslab.models.translator import Translator, WarmupInverseSqrt
from keraslab.recipes.settings import Settings
from keraslab.runs import (
    Run,
    continue_run,
    load_run_tokenizer,
    new_run,
    open_run,
    reject_options,
    reopen_run,
    require_recipe,
    save_evaluation,
)

NAME = "translator"
METHODS = ("greedy", "beam")


@dataclass
class Config(Settings):
    """Settings of a translator run (all saved in config.json)."""

    dataset: str = "bible"
    pairs: str | None = None  # a user's TSV of english<TAB>spanish lines (replaces the Bible)
    epochs: int = 12
    batch_size: int = 64
    subset: int | None = None  # training pairs used (None: all)
    learning_rate: float = 1e-3  # peak of the warm-up / inverse-sqrt schedule
    warmup_steps: int = 800
    seed: int = 0
    vocab_size: int = 8000  # one BPE vocabulary for both languages
    max_tokens: int = 96  # longest source / target (with [START]/[END]) in subword tokens
    embedding_dim: int = 256
    num_heads: int = 8
    intermediate_dim: int = 1024
    layers: int = 2  # encoder blocks, and decoder blocks
    dropout: float = 0.1
    norm: str = "pre"  # "pre" (stable at this learning rate) or "post" (the paper)
    positions: str = "learned"
    label_smoothing: float = 0.1
    val_sentences: int = 200  # validation verses translated (greedy) after each epoch

    _positive = (
        "epochs",
        "batch_size",
        "warmup_steps",
        "vocab_size",
        "max_tokens",
        "embedding_dim",
        "num_heads",
        "intermediate_dim",
        "layers",
    )

    def validate(self) -> None:
        self.check_positive()
        if self.subset is not None and int(self.subset) < 1:
            raise UserError(f"--subset must be a positive integer, got {self.subset}.")
        self.check_heads()
        if self.norm not in ("pre", "post"):
            raise UserError(f"--norm must be 'pre' or 'post', got {self.norm!r}.")
        if self.positions not in ("learned", "sinusoidal"):
            raise UserError(
                f"--positions must be 'learned' or 'sinusoidal', got {self.positions!r}."
            )
        if not self.learning_rate > 0:
            raise UserError(f"--learning-rate must be > 0, got {self.learning_rate}.")
        if not 0 <= self.dropout < 1 or not 0 <= self.label_smoothing < 1:
            raise UserError("--dropout and label smoothing must be in [0, 1).")
        if self.vocab_size < 100:
            raise UserError(f"--vocab-size must be at least 100, got {self.vocab_size}.")
        if self.max_tokens < 8:
            raise UserError(f"--max-tokens must be at least 8, got {self.max_tokens}.")


# ---- data ------------------------------------------------------------------------------------
def load_data(config: Config):
    """Train/val/test pairs: the Bible split by book, or the user's TSV split by hash."""
    source = config.pairs if config.pairs else config.dataset
    try:
        data = load_translation_pairs(source)
    except DataSourceMissing as e:
        raise UserError(str(e)) from None
    if config.subset is not None and config.subset < len(data.train):
        idx = np.sort(np.random.default_rng(config.seed).permutation(len(data.train)))
        data = data._replace(train=[data.train[i] for i in idx[: config.subset]])
    if not data.val or not data.test:
        raise UserError(
            f"{source}: the validation or test part is empty: give at least ~100 pairs."
        )
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

    def __init__(self, tokenizer, pairs, samples_dir, n=200, batch_size=64, shown=6):
        super().__init__()
        self.tokenizer, self.pairs, self.n = tokenizer, list(pairs), n
        self.samples_dir, self.batch_size, self.shown = Path(samples_dir), batch_size, shown
        src, tgt, _ = encode_pairs(tokenizer, self.pairs, 10**9)
        self.batches = TranslationBatches(
            src, tgt, batch_size, tokenizer.start_id, tokenizer.end_id, shuffle=False
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        max_len = self.model.sequence_length
        losses, accs, weights = [], [], []
        for i in range(len(self.batches)):
            (s, ti), to = self.batches[i]
            s, ti, to = s[:, :max_len], ti[:, :max_len], to[:, :max_len]
            loss, acc = self.model.evaluate_loss(s, ti, to)
            count = int((to != 0).sum())
            losses.append(loss * count)
            accs.append(acc * count)
            weights.append(count)
        logs["val_loss"] = float(np.sum(losses) / np.sum(weights))
        logs["val_accuracy"] = float(np.sum(accs) / np.sum(weights))
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


# ---- runs ------------------------------------------------------------------------------------
def check_run(run: Run) -> None:
    require_recipe(run, NAME)


def train(config: Config, out: str = "runs", verbose: int = 1, echo=print) -> dict:
    """Train a new translator run under ``out``; returns the summary (also summary.json)."""
    config.validate()
    data = load_data(config)  # before creating anything: a missing source writes nothing
    run = new_run(out, NAME, {**asdict(config), "backend": keras.backend.backend()})
    echo(f"run directory: {run.path}")
    echo(f"data: {data.split}")
    t0 = time.time()
    tokenizer = SubwordTokenizer.train(
        [s for pair in data.train for s in pair], vocabulary_size=config.vocab_size
    )
    tokenizer.save(run.path / "tokenizer.json")
    echo(f"tokenizer: {tokenizer.vocabulary_size} subwords ({time.time() - t0:.1f} s)")
    set_seed(config.seed)
    model = build_model(config, tokenizer.vocabulary_size)
    echo(f"model: {model.count_params():,} parameters")
    return _fit(run, config, model, tokenizer, data, 0, verbose, echo)


def resume(run_path: str, epochs: int | None = None, verbose: int = 1, echo=print) -> dict:
    """Continue a run from its newest checkpoint (weights, optimizer, schedule, epoch)."""
    run, config = reopen_run(run_path, NAME, Config, epochs)
    data = load_data(config)
    model, tokenizer, header = _restore(run, config, "last")
    done = header["epoch"]
    continue_run(run, done, config.epochs, epochs, echo)
    return _fit(
        run, config, model, tokenizer, data, done, verbose, echo, best=header["meta"].get("best")
    )


def _fit(run, config, model, tokenizer, data, initial_epoch, verbose, echo, best=None) -> dict:
    src, tgt, dropped = encode_pairs(tokenizer, data.train, config.max_tokens)
    if dropped:
        echo(f"skipping {dropped} training pairs longer than --max-tokens {config.max_tokens}")
    batches = TranslationBatches(
        src,
        tgt,
        config.batch_size,
        tokenizer.start_id,
        tokenizer.end_id,
        seed=config.seed,
    )
    batches.epoch = initial_epoch
    batches._plan()
    tokens = sum(len(s) + len(t) + 1 for s, t in zip(src, tgt))
    echo(f"training on {len(src):,} pairs ({tokens:,} tokens) in {len(batches)} batches per epoch")
    callbacks = [
        Validation(tokenizer, data.val, run.samples, config.val_sentences, config.batch_size),
        MetricsLog(run.metrics_path),
        Checkpoint(run.checkpoints, monitor="val_chrf", mode="max", best=best),
    ]
    t0 = time.time()
    model.fit(
        batches,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        verbose=verbose,
        callbacks=callbacks,
    )
    seconds = time.time() - t0
    summary = {
        "epochs": config.epochs,
        "train_seconds_this_session": round(seconds, 1),
        "train_tokens_per_second": round(tokens * (config.epochs - initial_epoch) / seconds, 1),
        "backend": keras.backend.backend(),
        "parameters": int(model.count_params()),
    }
    echo("translating the test split (greedy) ...")
    hyps, cut = translate_sentences(model, tokenizer, [en for en, _ in data.test])
    scores = translation_scores(hyps, [es for _, es in data.test])
    summary.update({f"test_{k}": v for k, v in scores.items() if k in ("bleu", "chrf")})
    summary["test_sentences"] = scores["sentences"]
    summary["test_truncated"] = cut
    echo(
        f"test ({scores['sentences']} sentences, greedy): BLEU {scores['bleu']:.2f}, chrF {scores['chrf']:.2f}"
    )
    summary.update(_curves(run))
    write_json(run.summary_path, summary)
    echo(f"run directory: {run.path}")
    return summary


def _curves(run: Run) -> dict:
    from keraslab.plots import save_curve

    out = {}
    for key in ("val_chrf", "val_bleu", "val_loss"):
        if any(key in r for r in run.metrics()):
            out[f"{key}_curve"] = str(save_curve(run.metrics(), key, run.path / f"{key}_curve.png"))
    return out


def _restore(run: Run, config: Config, which: str):
    tokenizer = load_run_tokenizer(run, SubwordTokenizer.load)
    set_seed(config.seed)
    model = build_model(config, tokenizer.vocabulary_size)
    header = load_run_checkpoint(model, run, which)
    return model, tokenizer, header


def load_model(run: Run, which: str = "last"):
    """``(model, config, tokenizer)`` of a translator run."""
    check_run(run)
    config = Config.from_dict(run.config)
    model, tokenizer, _ = _restore(run, config, which)
    return model, config, tokenizer


def translate(
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
    """Translate English ``sentences`` with a trained run; one Spanish line per sentence."""
    run = open_run(run_path)
    check_run(run)
    sentences = list(sentences)
    if not sentences:
        raise UserError("nothing to translate: give a sentence, or lines on standard input.")
    for i, s in enumerate(sentences):
        if not s.strip():
            raise UserError(f"sentence {i + 1} is empty: give text to translate.")
    model, _, tokenizer = load_model(run, which)
    out, cut = translate_sentences(
        model,
        tokenizer,
        sentences,
        method,
        beam_width,
        length_penalty,
        use_cache,
        truncate=truncate,
    )
    if cut:
        warn(
            f"warning: {cut} sentence(s) longer than {model.sequence_length} subword tokens were cut"
        )
    return out


def evaluate(
    run_path: str,
    n: int | None = None,
    which: str = "last",
    method: str = "greedy",
    beam_width: int = 4,
    length_penalty: float = 0.6,
    echo=print,
    **options,
) -> dict:
    """BLEU and chrF (sacrebleu) on the run's held-out test split; saved in evaluation.json."""
    reject_options(NAME, options)
    run = open_run(run_path)
    check_run(run)
    model, config, tokenizer = load_model(run, which)
    data = load_data(config)
    test = data.test if n is None else data.test[:n]
    echo(f"translating {len(test)} test sentences ({method}) ...")
    t0 = time.time()

    def progress(done, total):
        print(f"\r  {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    hyps, cut = translate_sentences(
        model,
        tokenizer,
        [en for en, _ in test],
        method,
        beam_width,
        length_penalty,
        progress=progress,
    )
    seconds = time.time() - t0
    result = translation_scores(hyps, [es for _, es in test])
    result.update(
        {
            "method": method
            if method == "greedy"
            else f"beam {beam_width}, alpha {length_penalty}",
            "checkpoint": which,
            "split": data.split,
            "truncated": cut,
            "sentences_per_second": round(len(test) / seconds, 2),
        }
    )
    key = f"{method}{beam_width if method == 'beam' else ''}-{which}-{len(test)}"
    save_evaluation(run, key, result)
    with atomic_path(run.path / f"test-{key}.txt") as tmp:
        tmp.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    return result


def format_evaluation(r: dict) -> str:
    return (
        f"BLEU {r['bleu']:.2f}  chrF {r['chrf']:.2f}  ({r['sentences']} test sentences, "
        f"{r['method']}, {r['checkpoint']} checkpoint, {r['sentences_per_second']} sentences/s)"
    )


def sample(*args, **kwargs):
    raise UserError('a translator run makes text, not images: use `keraslab translate RUN "..."`.')
