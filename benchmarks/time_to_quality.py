"""Time to quality: training seconds and updates until generated images reach quality levels, for
the dcgan, wgan-gp and vae recipes against a plain PyTorch loop of the same design, same run.

The keraslab contender is the recipe itself on its default backend (or ``--backends``): its
Config defaults, its data (``load_data``: the subset, the seed), its model (``build_model`` after
``set_seed``) and its input (shuffled ArrayBatches, gathered by tf.data on TensorFlow:
``keraslab.engine.feed``), trained by ``model.fit``; the recipe's per-epoch pictures and scores
are left out, as the plain loop has none. The plain PyTorch loop has the same networks (the step
benchmarks' modules; the report prints both parameter counts), losses, optimizers, batch size and
data, PyTorch's default initialisation and its own shuffling:

- dcgan: the ``dcgan`` preset, Adam(1e-3, beta_1=0.5) x 2, batch 64, label noise 0.05, MNIST;
  one update = one discriminator and one generator step.
- wgan-gp: the ``dcgan`` preset generator and the BatchNorm-free critic, 5 critic steps (fresh
  latents each, the same real batch) with penalty weight 10, Adam(2e-4, 0.5, 0.9) x 2, batch 64,
  12,800 Fashion-MNIST images; one update = 5 critic steps + 1 generator step.
- vae: the convolutional VAE (latent 32), Bernoulli likelihood on dynamically binarised MNIST,
  Adam(1e-3), batch 128; samples are the mean images of prior draws.

Every ``--every`` updates the clock stops, 1,000 images from fixed latents are scored with the
dataset's shipped classifier (keraslab.metrics.quality: the Inception-Score-style score relative
to real test images', the confident share, the classes present; and the fast FID on the
classifier's features against 1,000 test images), and the clock restarts. Reported: the first
time each level is reached (score 50/70/85% of real; fast FID 40/20/10), the recipe's target
(dcgan: 85% of real, 75% confident, all classes; wgan-gp: 80% of real), and the best scoring.
(x) = the plain loop's seconds / the contender's for the same seed: above 1 is sooner.

    python benchmarks/time_to_quality.py                              # 3 recipes x 2 seeds
    python benchmarks/time_to_quality.py --recipes vae --seeds 0 --budget 120
    python benchmarks/time_to_quality.py --json ttq.json --plot docs/time_to_quality.png
    python benchmarks/time_to_quality.py --from-json ttq.json --plot docs/time_to_quality.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

SCORE_LEVELS = (0.50, 0.70, 0.85)
FID_LEVELS = (40.0, 20.0, 10.0)
SCORED = 1000
# per recipe: dataset, updates between scorings, the target on the fast scores
RECIPES = {
    "dcgan": {"dataset": "mnist", "every": 250, "target": (0.85, 0.75, 10)},
    "wgan-gp": {"dataset": "fashion_mnist", "every": 50, "target": (0.80, 0.0, 0)},
    "vae": {"dataset": "mnist", "every": 250, "target": None},
}


class Tracker:
    """Scores samples on a schedule; keeps the training clock without the scoring time."""

    def __init__(self, recipe, sample_fn, real_images, budget, every):
        from keraslab.metrics.classifier import ClassifierFeatures
        from keraslab.metrics.quality import image_quality

        self.target = RECIPES[recipe]["target"]
        self.clf, self.quality = ClassifierFeatures(RECIPES[recipe]["dataset"]), image_quality
        real = real_images[:SCORED]
        self.real = image_quality(self.clf, real)
        self.real_features = self.clf(real)
        self.sample_fn, self.budget, self.every = sample_fn, budget, every
        self.rows, self.updates, self.train_s, self.t0 = [], 0, 0.0, None

    def start(self):
        self.t0 = time.perf_counter()

    def reached(self, row) -> bool:
        if self.target is None:
            return False
        rel, conf, classes = self.target
        return row["relative"] >= rel and row["confident"] >= conf and row["classes"] >= classes

    def step(self) -> bool:
        """Count one update; score when due. Returns True when training should stop."""
        from keraslab.metrics.fid import fid

        self.updates += 1
        if self.updates % self.every:
            return False
        self.train_s += time.perf_counter() - self.t0
        images = np.asarray(self.sample_fn(), dtype="float32")
        q = self.quality(self.clf, images)
        row = {
            "updates": self.updates,
            "seconds": round(self.train_s, 1),
            "score": round(q["score"], 3),
            "relative": round(q["score"] / self.real["score"], 3),
            "confident": round(q["confident"], 3),
            "classes": q["classes_present"],
            "fid": round(float(fid(self.clf(images), self.real_features)), 2),
        }
        self.rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        self.t0 = time.perf_counter()
        return self.train_s >= self.budget

    def result(self, **extra):
        out = {"real_score": self.real["score"], "real_confident": self.real["confident"]}
        out["rows"] = self.rows
        for level in SCORE_LEVELS:
            hit = next((r for r in self.rows if r["relative"] >= level), None)
            out[f"score_{int(level * 100)}"] = hit and [hit["updates"], hit["seconds"]]
        for level in FID_LEVELS:
            hit = next((r for r in self.rows if r["fid"] <= level), None)
            out[f"fid_{int(level)}"] = hit and [hit["updates"], hit["seconds"]]
        hit = next((r for r in self.rows if self.reached(r)), None)
        out["target"] = hit and [hit["updates"], hit["seconds"]]
        out["best"] = max(self.rows, key=lambda r: r["score"]) if self.rows else None
        out.update(extra)
        return out


def _fixed_latents(dim):
    return np.random.default_rng(1).standard_normal((SCORED, dim)).astype("float32")


# ------------------------------------------------------------------ keraslab: the recipe itself
def run_keras(recipe_name, seed, budget, every):
    import keras

    from keraslab.data.batches import ArrayBatches
    from keraslab.engine.feed import gathered_batches
    from keraslab.engine.seeding import set_seed
    from keraslab.recipes import load_recipe

    recipe = load_recipe(recipe_name)
    config = recipe.Config(seed=seed)
    config.validate()
    data = recipe.load_data(config)
    set_seed(config.seed)
    model = recipe.build_model(config, None, data)
    z = _fixed_latents(config.latent_dim)

    def sample():
        if hasattr(model, "jax_state_sync"):  # JAX: fit keeps the weights in its own state
            model.jax_state_sync()
        return model.generate(z)

    tracker = Tracker(recipe_name, sample, data.x_test, budget, every)

    class Track(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            tracker.start()

        def on_train_batch_end(self, batch, logs=None):
            float(next(iter(logs.values())))  # wait for the step (JAX dispatches asynchronously)
            if tracker.step():
                self.model.stop_training = True

    epochs = 10_000
    batches = ArrayBatches(data.x, None, config.batch_size, config.seed).start_at(0)
    inputs = gathered_batches(batches, epochs) or {"x": batches, "shuffle": False}
    model.fit(**inputs, epochs=epochs, verbose=0, callbacks=[Track()])
    params = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    return tracker.result(
        backend=keras.backend.backend(), jit_compile=str(model.jit_compile), params=params
    )


# ------------------------------------------------------------------ plain PyTorch, same design
def _torch_setup(recipe_name, seed):
    """(config, data as NCHW tensors, test images) the recipe would train on, without Keras."""
    import torch

    from keraslab.recipes import load_recipe

    recipe = load_recipe(recipe_name)
    config = recipe.Config(seed=seed)
    data = recipe.load_data(config)
    torch.manual_seed(seed)
    x = torch.from_numpy(data.x).permute(0, 3, 1, 2).contiguous()
    return config, x, data.x_test


def _torch_sampler(net, z, decode=lambda t: t):
    import torch

    z = torch.from_numpy(z)

    def sample():
        net.eval()
        with torch.no_grad():
            out = decode(net(z)).permute(0, 2, 3, 1).numpy()
        net.train()
        return out

    return sample


def _params(*nets):
    return sum(p.numel() for net in nets for p in net.parameters())


def torch_dcgan(seed, budget, every):
    import torch
    from dcgan_step import torch_dcgan as networks
    from torch import nn

    config, data, x_test = _torch_setup("dcgan", seed)
    g, d, lr, betas = networks(nn)
    opt_d = torch.optim.Adam(d.parameters(), lr, betas=betas)
    opt_g = torch.optim.Adam(g.parameters(), lr, betas=betas)
    bce = nn.BCEWithLogitsLoss()
    bs, latent, noise_level = config.batch_size, config.latent_dim, config.label_noise
    tracker = Tracker("dcgan", _torch_sampler(g, _fixed_latents(latent)), x_test, budget, every)
    tracker.start()
    while True:
        for idx in torch.randperm(len(data)).split(bs):
            real, n = data[idx], len(idx)
            # discriminator: 1 = generated, 0 = real, noise towards the inside of [0, 1]
            with torch.no_grad():
                fake = g(torch.randn(n, latent))
            noise = noise_level * torch.rand(2 * n, 1)
            loss_d = 0.5 * (bce(d(fake), 1.0 - noise[:n]) + bce(d(real), noise[n:]))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            # generator: fresh latents, "these are real" targets
            loss_g = bce(d(g(torch.randn(n, latent))), torch.zeros(n, 1))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            if tracker.step():
                return tracker.result(params=_params(g, d), threads=torch.get_num_threads())


def torch_wgan_gp(seed, budget, every):
    import torch
    from dcgan_step import torch_dcgan as dcgan_networks
    from torch import nn
    from wgan_gp_step import build_torch_networks

    config, data, x_test = _torch_setup("wgan-gp", seed)
    g = dcgan_networks(nn)[0]  # the dcgan preset's generator
    d = build_torch_networks()[1]  # the critic: no BatchNorm
    betas = (config.beta_1, config.beta_2)
    opt_d = torch.optim.Adam(d.parameters(), config.learning_rate, betas=betas)
    opt_g = torch.optim.Adam(g.parameters(), config.learning_rate, betas=betas)
    g_params = list(g.parameters())
    bs, latent = config.batch_size, config.latent_dim
    tracker = Tracker("wgan-gp", _torch_sampler(g, _fixed_latents(latent)), x_test, budget, every)
    tracker.start()
    while True:
        for idx in torch.randperm(len(data)).split(bs):
            real, n = data[idx], len(idx)
            for _ in range(config.n_critic):
                with torch.no_grad():
                    fake = g(torch.randn(n, latent))
                alpha = torch.rand(n, 1, 1, 1)
                x_hat = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
                (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
                norm = torch.sqrt(grad.square().sum(dim=(1, 2, 3)) + 1e-12)
                penalty = (norm - 1.0).square().mean()
                loss_d = d(fake).mean() - d(real).mean() + config.gp_weight * penalty
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            loss_g = -d(g(torch.randn(n, latent))).mean()
            for p, gr in zip(g_params, torch.autograd.grad(loss_g, g_params)):
                p.grad = gr  # the generator's gradients only, as keraslab's phase
            opt_g.step()
            if tracker.step():
                return tracker.result(params=_params(g, d), threads=torch.get_num_threads())


def torch_vae(seed, budget, every):
    import torch
    import torch.nn.functional as F
    from vae_step import build_torch_vae

    config, data, x_test = _torch_setup("vae", seed)
    model = build_torch_vae()
    opt = torch.optim.Adam(model.parameters(), config.learning_rate, betas=(config.beta_1, 0.999))
    sample = _torch_sampler(model.decoder, _fixed_latents(config.latent_dim), torch.sigmoid)
    tracker = Tracker("vae", sample, x_test, budget, every)
    tracker.start()
    while True:
        for idx in torch.randperm(len(data)).split(config.batch_size):
            xb = torch.bernoulli(data[idx])  # dynamic binarisation, redrawn every batch
            n = len(idx)
            logits, mean, log_var = model(xb)
            # per-example sums over pixels / latent dimensions, averaged over the batch
            recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") / n
            kl = 0.5 * torch.sum(torch.exp(log_var) + mean.square() - 1.0 - log_var) / n
            loss = recon + config.beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if tracker.step():
                return tracker.result(params=_params(model), threads=torch.get_num_threads())


PLAIN = {"dcgan": torch_dcgan, "wgan-gp": torch_wgan_gp, "vae": torch_vae}


def child(kind, recipe, seed, budget, every):
    if kind == "torch":
        result = PLAIN[recipe](seed, budget, every)
    else:
        result = run_keras(recipe, seed, budget, every)
    print(json.dumps(result))


# ------------------------------------------------------------------ report
def _cell(r, ref, key):
    hit = r.get(key)
    if not hit:
        return "not reached"
    text = f"{hit[0]:,} upd, {hit[1]:.0f} s"
    other = ref.get(key) if ref else None
    if r is not ref and other:
        text += f" ({other[1] / hit[1]:.2f}x)"
    elif r is not ref and ref and "rows" in ref:
        text += " (plain: not reached)"
    return text


def table(results: dict) -> str:
    """Markdown tables (one per recipe) from ``results[recipe][seed][contender]``."""
    lines = []
    keys = [f"score_{int(v * 100)}" for v in SCORE_LEVELS] + [f"fid_{int(v)}" for v in FID_LEVELS]
    heads = [f"score {int(v * 100)}%" for v in SCORE_LEVELS] + [f"FID {v:.0f}" for v in FID_LEVELS]
    for recipe, seeds in results.items():
        lines += [f"\n{recipe}:\n", "| seed | contender | updates/s | " + " | ".join(heads)]
        lines[-1] += " | target | best (score, rel., confident, FID) |"
        lines.append("|---" * (len(heads) + 5) + "|")
        for seed, contenders in seeds.items():
            ref = contenders.get("plain PyTorch loop")
            for label, r in contenders.items():
                if "error" in r:
                    lines.append(f"| {seed} | {label} | failed: {r['error']} |")
                    continue
                last = r["rows"][-1] if r["rows"] else None
                rate = last["updates"] / last["seconds"] if last else float("nan")
                cells = [_cell(r, ref, k) for k in keys]
                b = r["best"] or {}
                target = _cell(r, ref, "target") if RECIPES[recipe]["target"] else "-"
                lines.append(
                    f"| {seed} | {label} | {rate:.2f} | " + " | ".join(cells) + f" | {target} | "
                    f"{b.get('score', 0):.2f}, {b.get('relative', 0):.0%}, "
                    f"{b.get('confident', 0):.0%}, {b.get('fid', 0):.1f} at {b.get('updates')} |"
                )
        counts = {r.get("params") for c in seeds.values() for r in c.values() if "params" in r}
        lines.append(f"\nparameters: {', '.join(f'{n:,}' for n in sorted(counts))}")
        if len(counts) > 1:
            lines.append("WARNING: the contenders' networks differ in size")
    return "\n".join(lines)


def plot(results: dict, path: str) -> None:
    """Score relative to real and fast FID against training minutes, one column per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(4.2 * len(results), 6.4), squeeze=False)
    colors = {}
    for col, (recipe, seeds) in enumerate(results.items()):
        top, bottom = axes[0][col], axes[1][col]
        for seed, contenders in seeds.items():
            for label, r in contenders.items():
                if "error" in r or not r["rows"]:
                    continue
                color = colors.setdefault(label, f"C{len(colors)}")
                minutes = [row["seconds"] / 60 for row in r["rows"]]
                style = "-" if str(seed) == str(next(iter(seeds))) else "--"
                name = f"{label}, seed {seed}"
                top.plot(
                    minutes,
                    [row["relative"] for row in r["rows"]],
                    style,
                    c=color,
                    marker=".",
                    label=name,
                )
                bottom.plot(minutes, [row["fid"] for row in r["rows"]], style, c=color, marker=".")
        top.set_title(recipe)
        top.set_ylabel("score / real images' score")
        top.set_ylim(0, 1)
        bottom.set_ylabel("fast FID (classifier features)")
        bottom.set_yscale("log")
        bottom.set_xlabel("training minutes (2 CPU cores)")
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
        top.legend(fontsize=7)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", default="dcgan,wgan-gp,vae", help="comma-separated recipes")
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    p.add_argument("--budget", type=float, default=300, help="training seconds per contender")
    p.add_argument("--every", type=int, help="updates between scorings (default: per recipe)")
    p.add_argument(
        "--backends", help="Keras backends to run (default: each recipe's default backend)"
    )
    p.add_argument("--no-plain", action="store_true", help="leave out the plain PyTorch loop")
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--from-json", help="report results written by --json instead of running")
    p.add_argument("--plot", help="write the curves (PNG) here")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        kind, recipe, seed = a.child
        every = a.every or RECIPES[recipe]["every"]
        return child(kind, recipe, int(seed), a.budget, every)
    from _harness import run_child, versions

    if a.from_json:
        with open(a.from_json) as f:
            saved = json.load(f)
        results, header = saved["results"], saved["header"]
    else:
        from keraslab.recipes import recipe_info

        results = {}
        header = (
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"{time.strftime('%Y-%m-%d %H:%M')}; {json.dumps(versions())}; {a.budget:.0f} s "
            f"of training each, scored on {SCORED} samples"
        )
        for recipe in a.recipes.split(","):
            if recipe not in RECIPES:
                p.error(f"--recipes: {recipe!r} is not one of {', '.join(RECIPES)}")
            backends = (a.backends or recipe_info(recipe).default_backend).split(",")
            contenders = [(f"Keras / {b}", b, "keras") for b in backends]
            if not a.no_plain:
                contenders.append(("plain PyTorch loop", "torch", "torch"))
            for seed in a.seeds.split(","):
                for label, backend, kind in contenders:
                    print(f"# {recipe}, seed {seed}: {label} ...", file=sys.stderr, flush=True)
                    args = ["--child", kind, recipe, seed, "--budget", a.budget]
                    if a.every:
                        args += ["--every", a.every]
                    res, err = run_child(__file__, backend, args)
                    results.setdefault(recipe, {}).setdefault(seed, {})[label] = res or {
                        "error": err
                    }
                    if a.json:  # written after every contender: a long run keeps what it has
                        tmp = a.json + ".tmp"
                        with open(tmp, "w") as f:
                            json.dump({"header": header, "results": results}, f)
                        os.replace(tmp, a.json)
    print(header)
    print(table(results))
    print("\n(x) = the plain PyTorch loop's seconds / this one's, same seed: above 1 is sooner.")
    if a.plot:
        plot(results, a.plot)
        print(f"\ncurves: {a.plot}")


if __name__ == "__main__":
    main()
