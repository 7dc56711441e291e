"""Curves of a metric against epochs for finished or interrupted runs (reads metrics.jsonl).

python benchmarks/quality_curves.py runs/vae-... --key test_elbo --out docs/vae_test_elbo.png
python benchmarks/quality_curves.py runs/wgan-gp-... --key fid --out docs/wgan_gp_fid.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from keraslab.runs.charts import save_curve


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--key", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--title")
    args = p.parse_args()
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    path = save_curve(rows, args.key, args.out, title=args.title)
    print(path)
    for r in rows:
        print(f"epoch {r['epoch']:>3}  {args.key} {r.get(args.key)}  seconds {r.get('seconds')}")


if __name__ == "__main__":
    main()
