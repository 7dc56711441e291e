"""DCGAN time to quality: updates and training seconds until generated digits are recognisable.

For the ``dcgan`` recipe's default (preset ``dcgan``, Adam(1e-3, beta_1=0.5) for both networks,
batch 64, label noise 0.05, MNIST) on each Keras backend and for a plain PyTorch loop of the same
architecture and algorithm (separate real/fake discriminator calls, fresh latents for the
generator step, the same inward label noise, the same optimizer settings and batch size; PyTorch's
default initialisation), in the same run, each in its own process.

Every ``--every`` updates the clock stops, 1,000 images from fixed latents are scored with
keraslab's shipped MNIST classifier (keraslab.metrics.quality: the Inception-Score-style score,
the share of confident samples, the classes present), and the clock restarts. The target is the
issue's: score >= 85% of real test images' score, >= 75% confident, every class present. Also
reported: the first time the score reaches 70/75/80% of the real score.

    python benchmarks/dcgan_time_to_quality.py                  # all four, markdown on stdout
    python benchmarks/dcgan_time_to_quality.py --budget 120     # shorter
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

BATCH, LATENT, LR, NOISE = 64, 64, 1e-3, 0.05
LEVELS = (0.70, 0.75, 0.80, 0.85)


def _data():
    from keraslab.data import load

    (x, _), (xt, _) = load("mnist", "float32")
    return x, xt


class Tracker:
    """Scores samples on a schedule; keeps the training clock without the scoring time."""

    def __init__(self, sample_fn, real_images, budget, every):
        from keraslab.metrics.classifier import ClassifierFeatures
        from keraslab.metrics.quality import image_quality

        self.clf, self.quality = ClassifierFeatures("mnist"), image_quality
        self.real = image_quality(self.clf, real_images[:1000])
        self.sample_fn, self.budget, self.every = sample_fn, budget, every
        self.rows, self.updates, self.train_s, self.t0 = [], 0, 0.0, None

    def start(self):
        self.t0 = time.perf_counter()

    def step(self) -> bool:
        """Count one update; score when due. Returns True when training should stop."""
        self.updates += 1
        if self.updates % self.every:
            return False
        self.train_s += time.perf_counter() - self.t0
        q = self.quality(self.clf, self.sample_fn())
        row = {
            "updates": self.updates,
            "seconds": round(self.train_s, 1),
            "score": round(q["score"], 3),
            "relative": round(q["score"] / self.real["score"], 3),
            "confident": round(q["confident"], 3),
            "classes": q["classes_present"],
        }
        self.rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        done = row["relative"] >= 0.85 and row["confident"] >= 0.75 and row["classes"] == 10
        self.t0 = time.perf_counter()
        return done or self.train_s >= self.budget

    def result(self, **extra):
        out = {"real_score": self.real["score"], "real_confident": self.real["confident"]}
        out["rows"] = self.rows
        for level in LEVELS:
            hit = next((r for r in self.rows if r["relative"] >= level), None)
            out[f"at_{int(level * 100)}"] = hit and [hit["updates"], hit["seconds"]]
        hit = next(
            (
                r
                for r in self.rows
                if r["relative"] >= 0.85 and r["confident"] >= 0.75 and r["classes"] == 10
            ),
            None,
        )
        out["target"] = hit and [hit["updates"], hit["seconds"]]
        best = max(self.rows, key=lambda r: r["score"]) if self.rows else None
        out["best"] = best
        out.update(extra)
        return out


# ------------------------------------------------------------------ keraslab, default recipe
def run_keras(budget, every):
    import keras

    from keraslab.recipes.dcgan import RECIPE, Config

    x, xt = _data()
    config = Config(subset=None)
    config.validate()
    from keraslab.engine import set_seed

    set_seed(0)
    model = RECIPE.build_model(config)
    z = np.random.default_rng(1).standard_normal((1000, LATENT)).astype("float32")

    def sample():
        if hasattr(model, "jax_state_sync"):  # JAX: fit keeps the weights in its own state
            model.jax_state_sync()
        return model.generate(z)

    tracker = Tracker(sample, xt, budget, every)

    class Track(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            tracker.start()

        def on_train_batch_end(self, batch, logs=None):
            float(logs["g_loss"])  # wait for the step (JAX dispatches asynchronously)
            if tracker.step():
                self.model.stop_training = True

    model.fit(x, batch_size=BATCH, epochs=1000, shuffle=True, verbose=0, callbacks=[Track()])
    return tracker.result(jit_compile=bool(model.jit_compile))


# ------------------------------------------------------------------ plain PyTorch, same design
def run_torch(budget, every):
    import torch
    from dcgan_step import torch_dcgan
    from torch import nn

    torch.manual_seed(0)
    x, xt = _data()
    data = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

    g, d, _, _ = torch_dcgan(nn)  # the dcgan preset, as in the step benchmark
    opt_d = torch.optim.Adam(d.parameters(), LR, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), LR, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    z_fixed = torch.from_numpy(np.random.default_rng(1).standard_normal((1000, LATENT)))

    def sample():
        g.eval()
        with torch.no_grad():
            out = g(z_fixed.float()).permute(0, 2, 3, 1).numpy()
        g.train()
        return out

    tracker = Tracker(sample, xt, budget, every)
    tracker.start()
    while True:
        for idx in torch.randperm(len(data)).split(BATCH):
            real, n = data[idx], len(idx)
            # discriminator: 1 = generated, 0 = real, noise towards the inside of [0, 1]
            with torch.no_grad():
                fake = g(torch.randn(n, LATENT))
            noise = NOISE * torch.rand(2 * n, 1)
            loss_d = 0.5 * (bce(d(fake), 1.0 - noise[:n]) + bce(d(real), noise[n:]))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            # generator: fresh latents, "these are real" targets
            loss_g = bce(d(g(torch.randn(n, LATENT))), torch.zeros(n, 1))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            if tracker.step():
                return tracker.result(threads=torch.get_num_threads())


def child(kind, budget, every):
    result = run_torch(budget, every) if kind == "torch" else run_keras(budget, every)
    print(json.dumps(result))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=300, help="training seconds per contender")
    p.add_argument("--every", type=int, default=250, help="updates between scorings")
    p.add_argument("--only", help="comma-separated subset of tensorflow,torch,jax,plain-torch")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.budget, a.every)
    from _harness import run_child, versions

    contenders = [
        ("Keras / TensorFlow (XLA; the recipe's default)", "tensorflow", "keras"),
        ("Keras / torch", "torch", "keras"),
        ("Keras / JAX", "jax", "keras"),
        ("plain PyTorch loop", "torch", "torch"),
    ]
    keys = {"tensorflow": 0, "torch": 1, "jax": 2, "plain-torch": 3}
    if a.only:
        contenders = [contenders[keys[k]] for k in a.only.split(",")]
    results = {}
    for label, backend, kind in contenders:
        print(f"# {label} ...", file=sys.stderr, flush=True)
        res, err = run_child(
            __file__, backend, ["--child", kind, "--budget", a.budget, "--every", a.every]
        )
        results[label] = res or {"error": err}
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"{time.strftime('%Y-%m-%d')}; {json.dumps(versions())}; budget {a.budget:.0f} s each, "
        f"scored every {a.every} updates on 1,000 samples"
    )
    ref = results.get("plain PyTorch loop", {})
    print(
        "\n| | updates/s | 70% | 75% | 80% | target (85%, 75% conf., 10 classes) | best score (rel., conf.) |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, r in results.items():
        if "error" in r:
            print(f"| {label} | failed: {r['error']} | | | | | |")
            continue
        last = r["rows"][-1] if r["rows"] else None
        rate = last["updates"] / last["seconds"] if last else float("nan")

        def cell(key, r=r):
            hit = r.get(key)
            if not hit:
                return "not reached"
            text = f"{hit[0]} upd, {hit[1]:.0f} s"
            other = ref.get(key)
            if other and r is not ref:
                text += f" ({other[1] / hit[1]:.2f}x)"
            return text

        best = r["best"]
        print(
            f"| {label} | {rate:.1f} | {cell('at_70')} | {cell('at_75')} | {cell('at_80')} | "
            f"{cell('target')} | {best['score']:.2f} ({best['relative']:.0%}, "
            f"{best['confident']:.0%}) at {best['updates']} upd |"
        )
    print(f"\nreal test images: score {r.get('real_score', float('nan')):.2f}")
    print(
        "\n(x) = plain PyTorch loop's seconds / this one's: above 1 is sooner than plain PyTorch."
    )
    print("\nraw: " + json.dumps(results))


if __name__ == "__main__":
    main()
