"""``keraslab augment images|text|table INPUT``: the work of each kind, after the dispatcher has
checked the options and where they write, and chosen the backend when the kind needs Keras."""

from __future__ import annotations

# Measured here: TensorFlow runs Keras's image layers fastest (5 epochs of the small CNN with the
# full pipeline: tensorflow 2 s, torch 7 s, jax 18 s) and the tabular VAE as fast as jax (500
# steps: 9.8 s, jax 9.2 s, torch ~38 s); a plain install has it.
AUGMENT_BACKEND = "tensorflow"


def images(folder: str, options) -> str:
    from keraslab.augment.image import augment_folder

    written = augment_folder(folder, options.out, options.n, options, options.seed, options.preview)
    return f"wrote {len(written)} files under {options.out}"


def text_backend(options) -> str | None:
    """EDA needs no Keras; back-translation runs two translator runs (on the forward run's
    backend: the command declares ``run_option="forward"``)."""
    return "torch" if options.method == "backtranslate" else None


def text(path: str, options) -> None:
    from keraslab.augment.text import augment_file

    paraphrase = None
    if options.method == "backtranslate":
        from keraslab.recipes.translator import backtranslate

        def paraphrase(sentences):
            return backtranslate(sentences, options.forward, options.back, options.decode)

    augment_file(path, options.out, options, paraphrase=paraphrase)


def table_backend(options) -> str | None:
    """The tabular VAE and GAN train on Keras; SMOTE and its kin need none."""
    from keraslab.augment.synthesis import MODELS

    return AUGMENT_BACKEND if options.method in MODELS else None


def table(path: str, options) -> None:
    from keraslab.augment.tabular import balance_csv

    balance_csv(path, options.out, options)
