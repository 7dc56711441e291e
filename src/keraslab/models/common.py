"""Small helpers shared by keraslab's models."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


class SubModels:
    """Mixin of a model whose constructor takes Keras models (a GAN's generator, a VAE's
    encoder, ...): the arguments named in ``sub_models`` go into ``get_config`` as their own
    configs (:meth:`sub_model_configs`) and come back as models in ``from_config``.

    Example:
        >>> class VAE(SubModels, PhasedModel):
        ...     sub_models = ("encoder", "decoder")
        ...     def get_config(self):
        ...         return {**super().get_config(), "latent_dim": 2, **self.sub_model_configs()}
    """

    sub_models: tuple[str, ...] = ()

    def sub_model_configs(self) -> dict:
        return {k: keras.saving.serialize_keras_object(getattr(self, k)) for k in self.sub_models}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in cls.sub_models:
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def check_images(x, image_shape) -> np.ndarray:
    """``x`` as float32 numpy, or ValueError (one line) unless it is a batch of ``image_shape``."""
    x = np.asarray(x)
    shape = tuple(x.shape[1:]) if x.ndim == 4 else tuple(x.shape)
    if x.ndim != 4 or shape != tuple(image_shape):
        what = "images of shape" if x.ndim == 4 else f"a {x.ndim}-D array of shape"
        raise ValueError(
            f"{what} {shape} do not fit this model, which was built for "
            f"{tuple(image_shape)} images (height, width, channels)."
        )
    return x.astype("float32")


def to_numpy(t) -> np.ndarray:
    """A tensor as numpy, floats as float32 (a bfloat16 network's outputs too)."""
    a = ops.convert_to_numpy(t)
    return a.astype("float32") if a.dtype.name == "bfloat16" else a


def batched(fn, x, batch_size: int = 256):
    """Apply ``fn`` to ``x`` in batches and concatenate the numpy results (tuples kept; floats
    as float32)."""
    outs = []
    for i in range(0, len(x), batch_size):
        out = fn(x[i : i + batch_size])
        outs.append(
            tuple(to_numpy(o) for o in out) if isinstance(out, (tuple, list)) else to_numpy(out)
        )
    if outs and isinstance(outs[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*outs))
    return np.concatenate(outs)
