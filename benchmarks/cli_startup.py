"""How long the CLI takes to answer before any training: the bad-input and help paths that most
CLI tests (and users' typos) exercise. Prints, per command line, the median wall time of
``--repeat`` runs and its ratio to a bare ``python -c pass`` measured in the same run.

``--src DIR`` runs the CLI of another checkout (e.g. a worktree of an older commit) through
PYTHONPATH, so old and new can be compared on the same machine and minute::

    git worktree add /tmp/old <rev>
    python benchmarks/cli_startup.py --src /tmp/old/src
    python benchmarks/cli_startup.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = [
    ["--help"],
    ["train", "dcgan", "--epochs", "0"],  # argparse range
    ["train", "dcgan", "--beta-1", "2"],  # a Config range
    ["train", "gpt", "--dropout", "1.5"],
    ["train", "vae", "--n-critic", "3"],  # an option of another recipe
    ["list"],
]


def timed(cmd, env) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tempfile.gettempdir(),
    )
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", help="the src/ folder of another checkout")
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if args.src:
        env["PYTHONPATH"] = os.path.abspath(args.src)
    base = statistics.median(timed([sys.executable, "-c", "pass"], env) for _ in range(args.repeat))
    print(f"python -c pass: {base * 1000:.0f} ms (1.00)")
    for case in CASES:
        cmd = [sys.executable, "-m", "keraslab.cli", *case]
        t = statistics.median(timed(cmd, env) for _ in range(args.repeat))
        print(f"keraslab {' '.join(case)}: {t * 1000:.0f} ms ({t / base:.2f})")


if __name__ == "__main__":
    main()
