"""Training speed of the asset-pricing recipe's default model on each Keras backend: epochs/s of
a CA2 (K = 5) fit on the default simulation (60 training months of 200 assets x 51
characteristics, batches of 4 months, a validation pass each epoch), one subprocess per backend,
against a plain PyTorch loop of the same network, loss and optimizer measured in the torch child.

    python benchmarks/asset_pricing_step.py [--backends torch,jax,tensorflow] [--epochs 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import _harness


def data():
    from keraslab.data.finance import simulate_panel
    from keraslab.models.asset_pricing import model_inputs

    p = simulate_panel()
    train, val = p.months(0, 60), p.months(60, 120)
    return model_inputs(train), train.returns, model_inputs(val), val.returns


def keras_epochs_per_second(epochs: int) -> float:
    from keraslab.models.asset_pricing import CAEnsemble

    xt, yt, xv, yv = data()
    ens = CAEnsemble("ca2", 5, patience=10**6)
    model = ens.build(xt[0].shape[-1], 0)
    fit = dict(validation_data=(xv, yv), batch_size=ens.batch_size, verbose=0)
    model.fit(xt, yt, epochs=2, **fit)  # warm-up: compilation
    t0 = time.perf_counter()
    model.fit(xt, yt, epochs=epochs, **fit)
    return epochs / (time.perf_counter() - t0)


def torch_epochs_per_second(epochs: int) -> float:
    """The same CA2, masked MSE + L1 and Adam(3e-3) written directly in PyTorch."""
    import torch
    from torch import nn

    xt, yt, xv, yv = data()
    p, k = xt[0].shape[-1], 5
    torch.manual_seed(0)
    beta = nn.Sequential(
        nn.Linear(p, 32), nn.BatchNorm1d(32, momentum=0.01, eps=1e-3), nn.ReLU(),
        nn.Linear(32, 16), nn.BatchNorm1d(16, momentum=0.01, eps=1e-3), nn.ReLU(),
        nn.Linear(16, k),
    )  # fmt: skip
    factor = nn.Linear(p, k, bias=False)
    params = [*beta.parameters(), *factor.parameters()]
    kernels = [m.weight for m in [*beta, factor] if isinstance(m, nn.Linear)]
    opt = torch.optim.Adam(params, lr=3e-3)
    t = lambda a: torch.as_tensor(a)  # noqa: E731
    zt, pt, yt_, zv, pv, yv_ = t(xt[0]), t(xt[1]), t(yt), t(xv[0]), t(xv[1]), t(yv)

    def predict(z, x):
        b = beta(z.reshape(-1, p)).reshape(z.shape[0], z.shape[1], k)
        return (b * factor(x)[:, None, :]).sum(-1)

    def epoch():
        beta.train()
        for i in torch.randperm(len(zt)).split(4):
            loss = ((predict(zt[i], pt[i]) - yt_[i]) ** 2).mean()
            loss = loss + 1e-4 * sum(w.abs().sum() for w in kernels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        beta.eval()
        with torch.no_grad():
            for i in torch.arange(len(zv)).split(4):
                ((predict(zv[i], pv[i]) - yv_[i]) ** 2).mean()

    epoch()
    t0 = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return epochs / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="torch,jax,tensorflow")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        import keras

        out = {"keras": keras_epochs_per_second(args.epochs)}
        if keras.backend.backend() == "torch":
            out["plain_torch"] = torch_epochs_per_second(args.epochs)
        print(json.dumps(out))
        return
    versions = _harness.versions()
    print(
        f"# asset-pricing CA2 K=5, epochs/s, {time.strftime('%Y-%m-%d')}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs; {versions}; {args.epochs} timed epochs\n"
    )
    results = {}
    for backend in args.backends.split(","):
        cmd = ["--child", "--epochs", str(args.epochs)]
        r, error = _harness.run_child(__file__, backend, cmd)
        if r is None:
            print(f"{backend}: failed: {error}")
            continue
        results[backend] = r
    ref = results.get("torch", {}).get("plain_torch")
    print("| loop | epochs/s | vs plain PyTorch |")
    print("|---|---:|---:|")
    if ref:
        print(f"| plain PyTorch (reference) | {ref:.1f} | 1.00x |")
    for backend, r in results.items():
        ratio = f"{r['keras'] / ref:.2f}x" if ref else "–"
        print(f"| keraslab on {backend} | {r['keras']:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
