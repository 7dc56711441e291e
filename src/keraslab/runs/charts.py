"""Pictures people would rather look at than read: metric curves and latent-code scatter plots.

matplotlib with the non-interactive Agg backend; every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keraslab.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def save_curve(rows: list[dict], key: str, path, title: str | None = None) -> Path:
    """Plot ``key`` against ``epoch`` from metrics rows (``metrics.jsonl``) to a PNG."""
    pts = [(r["epoch"], r[key]) for r in rows if key in r and r[key] is not None]
    if not pts:
        raise ValueError(f"no {key!r} values to plot.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.set_title(title or f"{key} by epoch")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def save_latent_scatter(codes, labels, path, title: str = "test codes by class") -> Path:
    """Scatter 2-D codes coloured by integer class label, with a legend, to a PNG."""
    codes, labels = np.asarray(codes), np.asarray(labels).reshape(-1)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"a scatter plot needs 2-D codes, got shape {codes.shape}.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10")
    for c in np.unique(labels):
        sel = labels == c
        ax.scatter(codes[sel, 0], codes[sel, 1], s=3, color=cmap(int(c) % 10), label=str(c))
    ax.legend(markerscale=4, fontsize=8, loc="best")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title)
    return _save(fig, path)


def save_r2_by_k(table: dict, path, title: str = "") -> Path:
    """Two panels, total and predictive R^2 (%) against the number of factors K, one line per
    model; ``table[model][k] = {"total": ..., "predictive": ...}`` (fractions)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key in zip(axes, ("total", "predictive")):
        for model, by_k in table.items():
            ks = sorted(by_k)
            ax.plot(ks, [100 * by_k[k][key] for k in ks], marker="o", label=model)
        ax.set_xlabel("factors K")
        ax.set_ylabel(f"{key} R² (%)")
        ax.set_title(f"{key} R², out of sample")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)
