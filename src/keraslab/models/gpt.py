"""A mini GPT: a decoder-only Transformer language model (Radford et al. 2018/2019).

Token + position embeddings, ``num_layers`` pre-norm causal blocks (the
:class:`~keraslab.layers.TransformerDecoder` without cross-attention), a final LayerNorm and an
output layer that by default reuses the token embedding matrix (weight tying, Press & Wolf 2017).
It is trained to predict token ``t+1`` from tokens ``1..t`` (a window shifted by one) and works on
characters or subwords alike: it only sees ids.

Generation (:meth:`GPT.generate`) samples with temperature, top-k and top-p from a seeded
generator, feeding one token per step through a key/value cache (``use_cache=False`` re-reads the
whole window each step: the same distribution, quadratic cost).

References: A. Radford et al. "Language Models are Unsupervised Multitask Learners", 2019;
A. Karpathy, nanoGPT (https://github.com/karpathy/nanoGPT).
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
from keras import ops

from keraslab.engine import Batch, Phase, PhasedModel, compiled_method, no_grad
from keraslab.layers import PositionEmbedding, SinusoidalPositionalEncoding, TransformerDecoder
from keraslab.models.decoding import ids_until
from keraslab.models.losses import masked_cross_entropy, token_count
from keraslab.models.token_sampling import sample_next


@keras.saving.register_keras_serializable(package="keraslab")
class GPT(PhasedModel):
    """Decoder-only Transformer language model.

    Args:
        vocabulary_size: int.
        sequence_length: int. Context window (longest input).
        embedding_dim: int. Model width.
        num_heads: int.
        intermediate_dim: int. Feed-forward width (default ``4 * embedding_dim``).
        num_layers: int. Transformer blocks.
        dropout: float.
        tie_weights: bool. The output layer is the transposed token embedding (plus a bias).
        positions: ``"learned"`` or ``"sinusoidal"``.
        pad_id: int or None. Labels equal to it count neither in the loss nor in the accuracy
            (None: every label counts, as for windows cut from one long text).

    Example:
        >>> model = GPT(vocabulary_size=80, sequence_length=128)
        >>> model.compile(optimizers={"gpt": keras.optimizers.AdamW(1e-3)})
        >>> model.fit(x, y, epochs=5)                 # y = x shifted left by one
        >>> model.generate([ids], max_new_tokens=200, temperature=0.8, top_k=40, seed=0)
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int = 128,
        embedding_dim: int = 128,
        num_heads: int = 4,
        intermediate_dim: int | None = None,
        num_layers: int = 4,
        dropout: float = 0.1,
        tie_weights: bool = True,
        positions: str = "learned",
        pad_id: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.embedding_dim = int(embedding_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim or 4 * embedding_dim)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.tie_weights = bool(tie_weights)
        self.positions = positions
        self.pad_id = pad_id
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, embeddings_initializer=init, name="token_embedding"
        )
        if positions == "learned":
            self.position_embedding = PositionEmbedding(
                sequence_length, initializer=init, name="position_embedding"
            )
        elif positions == "sinusoidal":
            self.position_embedding = SinusoidalPositionalEncoding(name="position_embedding")
        else:
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}.")
        self.embedding_dropout = keras.layers.Dropout(dropout)
        self.blocks = [
            TransformerDecoder(
                num_heads,
                self.intermediate_dim,
                cross_attention=False,
                dropout=dropout,
                norm_first=True,
                activation="gelu",
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        if tie_weights:
            self.output_bias = self.add_weight(
                name="output_bias", shape=(vocabulary_size,), initializer="zeros"
            )
        else:
            self.lm_head = keras.layers.Dense(vocabulary_size, name="lm_head")
        with no_grad():
            self(np.zeros((1, 2), "int32"))

    # ---- the network -------------------------------------------------------------------------
    def _embed(self, ids, start=0, training=None):
        x = self.token_embedding(ids)
        x = x + self.position_embedding(x, start=start)
        return self.embedding_dropout(x, training=training)

    def _logits(self, x):
        x = self.final_norm(x)
        if self.tie_weights:
            table = ops.convert_to_tensor(self.token_embedding.embeddings)
            return ops.matmul(x, ops.transpose(table)) + self.output_bias
        return self.lm_head(x)

    def call(self, token_ids, training=None):
        """Next-token logits ``(batch, length, vocabulary)``; position t sees tokens 0..t only."""
        x = self._embed(token_ids, training=training)
        for block in self.blocks:
            x = block(x, training=training)
        return self._logits(x)

    # ---- training ----------------------------------------------------------------------------
    def phases(self):
        return [
            Phase(
                "gpt",
                self.trainable_variables,
                self.optimizers["gpt"],
                self.language_model_loss,
                metrics=("accuracy",),
                batch_weight=lambda batch: token_count(batch.y, self._pad),
            )
        ]

    @property
    def _pad(self) -> int:
        return -1 if self.pad_id is None else self.pad_id  # -1: every label counts

    def language_model_loss(self, batch):
        logits = self(batch.x, training=batch.training)
        loss, accuracy = masked_cross_entropy(batch.y, logits, self._pad)
        return loss, {"accuracy": accuracy}

    def evaluate_loss(self, x, y) -> tuple[float, int]:
        """Summed next-token negative log-likelihood (nats) of a batch, and its token count.

        The phase loss in evaluation mode (no dropout) times the count. Over many batches,
        ``evaluate(x, y)["gpt_loss"]`` is the same mean per token (sum over count).
        """
        with no_grad():
            loss, _ = self.language_model_loss(Batch(x, y, training=False))
        count = int(np.sum(np.asarray(y) != self._pad))
        return float(ops.convert_to_numpy(loss)) * count, count

    # ---- generation --------------------------------------------------------------------------
    def _step(self, token, position, caches):
        """Logits of the next token after one new ``token`` at ``position`` (cached)."""
        x = self._embed(token, start=position)
        new = []
        for block, cache in zip(self.blocks, caches):
            x, cache = block(x, cache=cache, cache_index=position)
            new.append(cache)
        return self._logits(x)[:, 0], new

    def _window(self, window, position):
        """Logits at ``position`` of a full (right-padded) window: one shape, one compilation."""
        logits = self(window, training=False)
        return ops.take(logits, position, axis=1)

    def generate(
        self,
        prompts,
        max_new_tokens: int = 100,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = 0,
        use_cache: bool = True,
        stop_id: int | None = None,
        callback=None,
    ) -> list[list[int]]:
        """Continue each prompt by ``max_new_tokens`` sampled tokens.

        Args:
            prompts: list of id lists, all of the same length (or a 2-D array).
            max_new_tokens: int.
            temperature: float. 0 is greedy (argmax); otherwise see
                :func:`keraslab.models.token_sampling.filter_logits`.
            top_k, top_p: sampling filters (None: off).
            seed: int. Same seed, same prompt, same settings: same text, on every backend
                up to float rounding.
            use_cache: bool. Key/value cache (each step costs the same) or re-read the window.
            stop_id: int. Stop a row once it emits this id (the id is not returned).
            callback: called as ``callback(step, new_token_ids)`` after each step (progress).

        Returns:
            The new ids of each prompt (the prompt itself not included).

        When prompt plus output outgrow ``sequence_length``, the model keeps reading the most
        recent tokens: the cached path restarts its cache from the last half window.
        """
        prompts = np.asarray(prompts, dtype="int32")
        if prompts.ndim != 2 or prompts.shape[1] < 1:
            raise ValueError("prompts must be a non-empty (batch, length) array of token ids.")
        if prompts.min() < 0 or prompts.max() >= self.vocabulary_size:
            raise ValueError(f"prompt ids must be in [0, {self.vocabulary_size}).")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens}.")
        rng = np.random.default_rng(seed)
        tokens = prompts
        done = np.zeros(len(prompts), bool)
        out = []
        length = self.sequence_length
        with no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="You are using a softmax over axis")
            caches, cached = None, 0  # cached: tokens of `tokens[:, start:]` in the cache
            start = 0
            for step in range(max_new_tokens):
                if use_cache:
                    if tokens.shape[1] - start > length:  # window full: restart from its half
                        start = tokens.shape[1] - length // 2
                        caches = None
                    if caches is None:
                        caches = [
                            b.initial_cache(length, batch_size=len(tokens)) for b in self.blocks
                        ]
                        cached = 0
                    fn = compiled_method(self, "_step")
                    while cached < tokens.shape[1] - start:  # feed what the cache lacks
                        pos = np.asarray(cached, "int32")  # an array: no recompilation
                        logits, caches = fn(tokens[:, start + cached][:, None], pos, caches)
                        cached += 1
                else:
                    recent = tokens[:, -length:]
                    window = np.zeros((len(tokens), length), "int32")
                    window[:, : recent.shape[1]] = recent
                    pos = np.asarray(recent.shape[1] - 1, "int32")
                    logits = compiled_method(self, "_window")(window, pos)
                nxt = sample_next(ops.convert_to_numpy(logits), rng, temperature, top_k, top_p)
                if stop_id is not None:
                    done |= nxt == stop_id
                out.append(nxt)
                tokens = np.concatenate([tokens, nxt[:, None]], axis=1)
                if callback is not None:
                    callback(step, nxt)
                if stop_id is not None and done.all():
                    break
        return ids_until(np.stack(out, axis=1), [stop_id])

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "tie_weights": self.tie_weights,
            "positions": self.positions,
            "pad_id": self.pad_id,
        }


def perplexity(mean_nll: float) -> float:
    """``exp`` of a mean negative log-likelihood in nats."""
    return float(math.exp(mean_nll))
