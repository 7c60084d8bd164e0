"""Cost of histlib.evaluation.retrieval_metrics next to pytorch-metric-learning's AccuracyCalculator.

Both run on the same SOP-sized random clustered embeddings (60,502 x 512 float32, 11,316 classes
of 2-12 items), each in a fresh child process, so that the time and the peak memory growth (resident
set size above the state after loading the inputs) of one cannot hide the other's.
AccuracyCalculator uses its default faiss backend (exact search) with k = 1000 and computes
precision_at_1, MAP@R and R-Precision; retrieval_metrics computes Recall@1/10/100/1000, MAP@R,
R-Precision and precision_at_1. The shared metrics are printed side by side.

    python benchmarks/eval_cost.py                 # SOP size (a few minutes on 2 cores)
    python benchmarks/eval_cost.py --items 12000 --classes 2244
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch



def sop_like(items: int, classes: int, dim: int = 512, seed: int = 0, noise: float = 3.0):
    """Random clustered unit embeddings (items, dim), labels with class sizes 2-12 summing to items.

    Each class has a random Gaussian centre; items are centre + noise * Gaussian, normalised.
    The noise level puts the metrics mid-range, so both rankings do real work.
    """
    if not 2 * classes <= items <= 12 * classes:
        raise ValueError(f"{items} items cannot form {classes} classes of 2-12 items")
    g = np.random.default_rng(seed)
    sizes = np.full(classes, 2)
    while (missing := items - sizes.sum()) > 0:
        grow = g.choice(np.flatnonzero(sizes < 12), size=min(missing, int((sizes < 12).sum())), replace=False)
        sizes[grow] += 1
    labels = g.permutation(np.repeat(np.arange(classes), sizes))
    centres = g.standard_normal((classes, dim), dtype=np.float32)
    points = centres[labels] + noise * g.standard_normal((items, dim), dtype=np.float32)
    embeddings = torch.nn.functional.normalize(torch.from_numpy(points), dim=1)
    return embeddings, torch.from_numpy(labels)


def child(which: str, items: int, classes: int) -> None:
    embeddings, labels = sop_like(items, classes)
    with open("/proc/self/statm") as f:
        resident_before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    start = time.perf_counter()
    if which == "histlib":
        from histlib.evaluation import retrieval_metrics

        metrics = retrieval_metrics(embeddings, labels, ks=(1, 10, 100, 1000))
    else:
        from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

        calculator = AccuracyCalculator(
            include=("precision_at_1", "mean_average_precision_at_r", "r_precision"), k=1000
        )
        metrics = calculator.get_accuracy(embeddings, labels)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "growth": max(0, peak - resident_before), "metrics": metrics}))


def run_child(which: str, items: int, classes: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, "--items", str(items), "--classes", str(classes)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=60502)
    parser.add_argument("--classes", type=int, default=11316)
    parser.add_argument("--child", choices=("histlib", "pml"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.items, args.classes)
        return
    print(
        f"retrieval_metrics vs AccuracyCalculator (faiss, k=1000) on {args.items} x 512 random "
        f"embeddings, {args.classes} classes of 2-12 items, CPU, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    ours = run_child("histlib", args.items, args.classes)
    theirs = run_child("pml", args.items, args.classes)
    print(f"{'':28}{'histlib':>12}{'PML+faiss':>12}{'ratio':>8}")
    print(f"{'time (s)':28}{ours['seconds']:>12.1f}{theirs['seconds']:>12.1f}{ours['seconds'] / theirs['seconds']:>8.2f}")
    gib = 2**30
    print(f"{'peak memory growth (GiB)':28}{ours['growth'] / gib:>12.2f}{theirs['growth'] / gib:>12.2f}"
          f"{ours['growth'] / max(theirs['growth'], 1):>8.2f}")
    for name, pml_name in (("precision_at_1", "precision_at_1"), ("map@r", "mean_average_precision_at_r"),
                           ("r_precision", "r_precision")):
        print(f"{name:28}{ours['metrics'][name]:>12.6f}{theirs['metrics'][pml_name]:>12.6f}")
    for k in (1, 10, 100, 1000):
        print(f"{'recall@' + str(k):28}{ours['metrics'][f'recall@{k}']:>12.6f}{'-':>12}")


if __name__ == "__main__":
    main()
