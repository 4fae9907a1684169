"""Loss and mAP per epoch of several bench_smoke_learning.py runs, in one picture and one table.

    python benchmarks/bench_smoke_learning.py --set precision=bfloat16 > bf16.jsonl
    python benchmarks/bench_smoke_learning.py > tf32.jsonl
    python benchmarks/plot_learning_curves.py tf32.jsonl bf16.jsonl --out curves.png

Each file is one run's output (one JSON line per epoch, then the summary); its label is the file
name without the suffix. Files whose names differ only in a trailing ``_<seed>`` are one group:
the same colour, one line per seed. Printed: per run the summed training loss of the first and
last epoch, the best mAP50 and mAP50-95 and the mean seconds per epoch.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def read_run(path: Path) -> list[dict]:
    """The per-epoch rows of one run (lines with an ``epoch`` key)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    rows = [r for r in rows if "epoch" in r]
    if not rows:
        raise SystemExit(f"{path}: no epoch lines (is it bench_smoke_learning.py output?)")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="PNG file")
    args = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4))
    colours: dict[str, str] = {}
    print(f"{'run':24s} {'loss first':>10s} {'loss last':>10s} {'best mAP50':>10s} {'best mAP50-95':>13s} {'s/epoch':>8s}")
    for path in args.runs:
        rows = read_run(path)
        group = re.sub(r"_\d+$", "", path.stem)
        label = None if group in colours else group  # one legend entry per group
        colour = colours.setdefault(group, f"C{len(colours)}")
        epochs = [r["epoch"] for r in rows]
        loss = [sum(r["loss"]) for r in rows]
        ax_loss.plot(epochs, loss, color=colour, label=label, alpha=0.8)
        ax_map.plot(epochs, [r["mAP50"] for r in rows], color=colour, label=label, alpha=0.8)
        ax_map.plot(epochs, [r["mAP50_95"] for r in rows], color=colour, linestyle="--", alpha=0.8)
        seconds = [r["s"] for r in rows[1:]] or [rows[0]["s"]]  # the first epoch also compiles
        print(f"{path.stem:24s} {loss[0]:10.3f} {loss[-1]:10.3f} {max(r['mAP50'] for r in rows):10.4f} "
              f"{max(r['mAP50_95'] for r in rows):13.4f} {sum(seconds) / len(seconds):8.1f}")
    ax_loss.set(xlabel="epoch", ylabel="training loss (box + cls + dfl)", title="training loss")
    ax_map.set(xlabel="epoch", ylabel="mAP (solid: mAP50, dashed: mAP50-95)", title="validation mAP of the EMA")
    for ax in (ax_loss, ax_map):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
