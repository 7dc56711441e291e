"""Bytes all-reduced per data-parallel train step, read from the compiled XLA program, against
the parameter count x dtype size (what a ring all-reduce of the gradients must move per
replica, x 2(n-1)/n on the wire). Simulated CPU devices: scaling speed means nothing on 2
cores, the volume does.

    python benchmarks/distribute_comm.py [--devices 4] [--breakdown]

--breakdown lists, per model, the reduced tensors grouped by shape with the trainable weights of
that shape (a shape no weight has is a derived tensor, e.g. the sub-pixel kernel that
keraslab's Conv2DTranspose gathers from its stored kernel).
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

JOB = Path(__file__).resolve().parents[1] / "tests" / "engine" / "distributed_job.py"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--breakdown", action="store_true", help="the reduced tensors by shape")
    a = p.parse_args()
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={a.devices}"}  # fmt: skip
    print(f"{a.devices} simulated devices, global batch 16, float32")
    print(f"{'model':<22} {'parameters':>10} {'param bytes':>12} {'all-reduced':>12} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for model, args in [("dense", []), ("gan", []), ("gpt", []),
                            ("gpt", ["--distribute", "model-parallel", "--mesh", "2x2"])]:  # fmt: skip
            out = Path(tmp) / "out.npz"
            args = args or ["--distribute", "data-parallel"]
            subprocess.run([sys.executable, str(JOB), model, str(out), *args], env=env, check=True,
                           capture_output=True)  # fmt: skip
            r = np.load(out)
            name = model + (" (model-parallel 2x2)" if "model-parallel" in args else "")
            pb, ar = int(r["trainable_bytes"]), int(r["allreduce_bytes"])
            print(f"{name:<22} {pb // 4:>10,} {pb:>12,} {ar:>12,} {ar / pb:>6.2f}")
            if a.breakdown:
                breakdown(r)


def breakdown(r):
    """The all-reduced tensors of one step grouped by shape, largest total first."""
    weights = {}
    for path, shape in zip(r["param_paths"], r["param_shapes"]):
        weights.setdefault(str(shape), []).append(str(path))
    groups = {}
    for shape, n in zip(map(str, r["reduced_shapes"]), r["reduced_bytes"]):
        count, total = groups.get(shape, (0, 0))
        groups[shape] = (count + 1, total + int(n))
    for shape, (count, total) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        flipped = "[" + ",".join(reversed(shape.strip("[]").split(","))) + "]"
        names = ", ".join(weights.get(shape, []))
        if not names and flipped in weights:  # XLA often reduces a kernel's gradient transposed
            names = ", ".join(weights[flipped]) + " (transposed)"
        names = names or "(no weight of this shape)"
        print(f"    {total:>10,} B  {count:>2} x {shape:<18} {names}")


if __name__ == "__main__":
    main()
