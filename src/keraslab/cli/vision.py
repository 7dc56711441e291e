"""``keraslab visualize filters|class|saliency MODEL``, ``keraslab style-transfer CONTENT STYLE``
and ``keraslab plot MODEL``: load the model or images, run :mod:`keraslab.vision`, write the
picture atomically. MODEL is a run folder, a ``.keras`` file or ``efficientnet-lite0``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import keras
import numpy as np

from keraslab.errors import UserError
from keraslab.io import atomic_path, save_image_grid
from keraslab.vision.style_transfer import lite_preprocess

# What a run's networks take: GANs and autoencoders images in [0, 1] (no preprocessing); a
# fine-tuned EfficientNet-Lite0 its own normalisation.
RUN_PREPROCESS = {"finetune-image": lite_preprocess}
LITE0_SIZE = 224


def load_model(spec: str, size: int | None = None, top: bool = True):
    """``(model, preprocess, label)`` for a MODEL argument.

    ``efficientnet-lite0`` (ImageNet weights, ``size`` x ``size`` input), a ``.keras`` file
    (fed images in [0, 1]), or a keraslab run folder (its trained networks; a GAN's
    discriminator and generator, a fine-tuned classifier).
    """
    if spec == "efficientnet-lite0":
        from keraslab.transfer.efficientnet_lite import efficientnet_lite0_pretrained

        s = size or LITE0_SIZE
        model = efficientnet_lite0_pretrained(include_top=top, input_shape=(s, s, 3))
        return model, lite_preprocess, spec
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserError(
            f"{spec}: no such file or run folder (MODEL is a run folder, a .keras file or "
            "efficientnet-lite0)."
        )
    if path.is_file():
        if path.suffix != ".keras":
            raise UserError(f"{spec}: not a .keras file (MODEL is a run folder, a .keras file or "
                            "efficientnet-lite0).")  # fmt: skip
        import keraslab.layers  # noqa: F401  (registers keraslab's layers for loading)
        import keraslab.models  # noqa: F401

        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as e:
            first = (str(e).strip().splitlines() or [""])[0][:160]
            raise UserError(
                f"{spec}: not a readable Keras model ({type(e).__name__}: {first})."
            ) from None
        return model, None, path.name
    from keraslab.recipes import load_recipe
    from keraslab.runs import open_run

    run = open_run(str(path))
    model, _ = load_recipe(run.recipe).load_model(run)
    return model, RUN_PREPROCESS.get(run.recipe), path.name


def read_image(spec: str, size: int | None = None) -> np.ndarray:
    """An RGB image ``(H, W, 3)`` float32 in [0, 1] from a file or ``skimage:NAME``; with ``size``
    resized (shorter side) and centre-cropped to ``size`` x ``size``."""
    from PIL import Image

    if spec.startswith("skimage:"):
        name = spec.split(":", 1)[1]
        image = _skimage(name)
    else:
        try:
            with Image.open(spec) as im:
                image = np.asarray(im.convert("RGB"))
        except FileNotFoundError:
            raise UserError(f"{spec}: no such image file.") from None
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise UserError(f"{spec}: not a readable image ({e.__class__.__name__}).") from None
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    image = image[..., :3]
    if size:
        im = Image.fromarray(image.astype(np.uint8))
        scale = size / min(im.size)
        im = im.resize((max(size, round(im.width * scale)), max(size, round(im.height * scale))),
                       Image.LANCZOS)  # fmt: skip
        left, top = (im.width - size) // 2, (im.height - size) // 2
        image = np.asarray(im.crop((left, top, left + size, top + size)))
    return image.astype(np.float32) / 255.0


SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cat", "chelsea", "coffee", "grass", "gravel",
                  "hubble_deep_field", "immunohistochemistry", "rocket", "retina")  # fmt: skip


def _skimage(name: str) -> np.ndarray:
    if name not in SKIMAGE_PHOTOS:
        raise UserError(f"skimage:{name}: not a bundled photo; choose one of "
                        f"{', '.join(SKIMAGE_PHOTOS)}.")  # fmt: skip
    try:
        import skimage.data
    except ImportError:
        raise UserError("skimage: photos need scikit-image: pip install scikit-image") from None
    try:
        return np.asarray(getattr(skimage.data, name)())
    except Exception as e:  # a photo that is a download in this version
        raise UserError(f"skimage:{name}: not available offline ({type(e).__name__}).") from None


def _progress(label: str, steps: int, every: int):
    from keraslab.runs.callbacks import ProgressLines

    return ProgressLines(max(1, steps // every), label, lines=10)


def _ascent(options, label: str, preprocess) -> dict:
    """The settings of ``visualize filters`` and ``visualize class`` as keyword arguments of
    :func:`keraslab.vision.filters.maximize`, with progress lines every tenth of the steps."""
    every = max(1, options.steps // 10)
    return dict(
        n=options.n, size=options.size, preprocess=preprocess, steps=options.steps,
        learning_rate=options.learning_rate, optimizer=options.optimizer,
        decorrelate=options.decorrelate == "yes", jitter=options.jitter, seed=options.seed,
        parameterization=options.parameterization, log_every=every,
        callbacks=[_progress(label, options.steps, every)],
    )  # fmt: skip


def filters(model_spec: str, options) -> str:
    """``keraslab visualize filters``: a grid of the first ``--n`` filters of ``--layer``."""
    from keraslab.vision.filters import visualize_filters

    model, preprocess, label = load_model(model_spec, options.size, top=False)
    settings = _ascent(options, f"{label} {options.layer}", preprocess)
    images, _ = visualize_filters(model, options.layer, **settings)
    return str(save_image_grid(images, options.out, scale=_scale(images)))


def class_images(model_spec: str, options) -> str:
    """``keraslab visualize class``: ``--n`` images that maximise the logit of ``--class``."""
    from keraslab.vision.filters import visualize_class

    model, preprocess, label = load_model(model_spec, options.size, top=True)
    settings = _ascent(options, f"{label} class {options.class_index}", preprocess)
    images, _ = visualize_class(model, options.class_index, **settings)
    return str(save_image_grid(images, options.out, scale=_scale(images)))


def saliency_map(model_spec: str, options) -> str:
    """``keraslab visualize saliency``: the image beside its saliency map."""
    from keraslab.vision.filters import output_network, saliency

    model, preprocess, _ = load_model(model_spec, None, top=True)
    net = output_network(model)
    if len(net.inputs[0].shape) != 4:
        raise UserError("saliency needs a model that takes images.")
    h, w, c = net.inputs[0].shape[1:]
    image = read_image(options.image, size=h or 224)
    x = image if c == 3 else image.mean(-1, keepdims=True)
    maps, classes, _ = saliency(net, x[None], options.class_index, preprocess)
    # scaled to the 99th percentile: a few extreme pixels would leave the rest black
    m = np.clip(maps[0] / (np.percentile(maps[0], 99) + 1e-12), 0.0, 1.0)
    heat = np.stack([m, m * 0.6, m * 0.2], -1)
    save_image_grid(np.stack([image, heat]), options.out, ncols=2)
    print(f"class {int(classes[0])}", file=sys.stderr)
    return options.out


def style_transfer(content_spec: str, style_spec: str, options) -> str:
    """``keraslab style-transfer CONTENT STYLE``: content | style | result in one PNG, and the
    result alone next to it (``OUT`` without ``.png`` + ``_result.png``)."""
    from keraslab.vision.style_transfer import StyleWeights
    from keraslab.vision.style_transfer import style_transfer as transfer

    content = read_image(content_spec, options.size)
    style = read_image(style_spec, options.size)
    weights = StyleWeights(
        content=options.content_weight, style=options.style_weight, tv=options.tv_weight
    )
    out = Path(options.out)
    every = options.every or options.steps
    callbacks = [_progress("style transfer", options.steps, every)]
    if options.every:
        callbacks.append(_Intermediate(out, every))
    image, _ = transfer(
        content, style, steps=options.steps, weights=weights,
        learning_rate=options.learning_rate, log_every=every, callbacks=callbacks,
    )  # fmt: skip
    save_image_grid(np.stack([content, style, image]), out, ncols=3)
    save_image_grid(image[None], out.with_name(out.stem + "_result.png"), ncols=1)
    return str(out)


class _Intermediate(keras.callbacks.Callback):
    """Saves the image every ``every`` steps: ``OUT_stepNNNN.png``."""

    def __init__(self, out: Path, every: int):
        super().__init__()
        self.out, self.every = out, every

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.every
        path = self.out.with_name(f"{self.out.stem}_step{step:05d}.png")
        save_image_grid(self.model.images(), path, ncols=1)


def plot(model_spec: str, options) -> str:
    """``keraslab plot MODEL``: ``keras.utils.plot_model`` of the model (each network of a GAN
    or a VAE in its own box when --expand-nested)."""
    if shutil.which("dot") is None:
        raise UserError("graphviz is not installed (its `dot` draws the diagram): "
                        "sudo apt-get install graphviz (or brew install graphviz).")  # fmt: skip
    try:
        import pydot  # noqa: F401
    except ImportError:
        raise UserError("model diagrams need pydot: pip install pydot") from None
    model, _, _ = load_model(model_spec, None)
    networks = _diagram(model)
    with atomic_path(options.out, suffix=".png") as tmp:
        keras.utils.plot_model(
            networks, to_file=str(tmp), show_shapes=options.show_shapes,
            expand_nested=options.expand_nested, show_layer_names=True, dpi=96,
        )  # fmt: skip
    return options.out


def _diagram(model) -> keras.Model:
    """A functional model to draw: the model itself, or one whose boxes are its networks."""
    from keraslab.vision.filters import functional_networks

    try:
        if model.inputs and model.outputs:
            return model
    except (AttributeError, ValueError):
        pass
    nets = [n for n in functional_networks(model) if n is not model]
    if not nets:
        traced = _traced(model)
        if traced is not None:
            return traced
        raise UserError(f"cannot draw {type(model).__name__}: it holds no functional networks.")
    top = [n for n in nets if not any(n is not o and n in _sub(o) for o in nets)]
    if len(top) == 1:
        return top[0]
    inputs, outputs = [], []
    for net in top:
        ins = [
            keras.Input(tuple(t.shape[1:]), dtype=t.dtype, name=f"{net.name}_{t.name}")
            for t in net.inputs
        ]
        inputs += ins
        outputs.append(net(ins if len(ins) > 1 else ins[0]))
    return keras.Model(inputs, outputs, name=type(model).__name__)


def _traced(model):
    """A subclassed sequence model (translator, GPT, BERT, classifier) traced into a functional
    graph: its ``call`` run on symbolic token ids, so the diagram shows its layers."""
    length = getattr(model, "sequence_length", None)
    if not length:
        return None

    def ids(name):
        return keras.Input((int(length),), dtype="int32", name=name)

    for inputs in ([ids("source_ids"), ids("target_in")], ids("token_ids")):
        try:
            return keras.Model(inputs, model.call(inputs), name=model.name)
        except Exception:  # noqa: BLE001 (the other input form)
            continue
    return None


def _sub(net) -> list:
    return [layer for layer in getattr(net, "layers", []) if isinstance(layer, keras.Model)]


def _scale(images: np.ndarray) -> int:
    return max(1, 96 // images.shape[1])
