"""The FID floor: FID and KID between real MNIST train and test images, per feature extractor.

No generator can be expected to beat the FID of real held-out data against the test split, so
this is the floor for `keraslab evaluate`. FID is biased upwards for small samples: compare
numbers only at the same ``--n``.

    python benchmarks/fid_floor.py --n 2000 --extractor inception classifier
"""

from __future__ import annotations

import argparse
import time

from keraslab.data import load
from keraslab.metrics.fid import fid, kid
from keraslab.metrics.reference import reference_features


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--extractor", nargs="+", default=["classifier", "inception"])
    args = p.parse_args()
    (x, _), (xt, _) = load(args.dataset, "uint8")
    for kind in args.extractor:
        if kind == "inception":
            from keraslab.metrics.inception import InceptionFeatures

            ex, name = InceptionFeatures(), "inception"
        else:
            from keraslab.metrics.classifier import ClassifierFeatures

            ex = ClassifierFeatures(args.dataset)
            name = ex.name
        t0 = time.time()
        a = reference_features(args.dataset, "train", args.n, name, ex, x[: args.n])
        b = reference_features(args.dataset, "test", args.n, name, ex, xt[: args.n])
        k, ks = kid(a, b, subset_size=min(1000, args.n))
        print(
            f"{name}: FID(train[:{args.n}], test[:{args.n}]) = {fid(a, b):.3f}, "
            f"KID = {k:.5f} ± {ks:.5f}  ({time.time() - t0:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
