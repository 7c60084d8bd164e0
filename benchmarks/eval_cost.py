"""Cost of histlib.evaluation.retrieval_metrics next to pytorch-metric-learning + faiss and the GEMM floor.

Default data: 30,000 x 512 random clustered float32 embeddings with SOP-like class sizes of 2-12
items, 5,611 classes (SOP's test split has 60,502 / 11,316 = 5.35 items per class). Three
measurements, each in a fresh child process, so that the time and the peak memory growth
(peak resident set size above the state after making the inputs and importing the libraries) of
one cannot hide another's:

- histlib: ``retrieval_metrics(..., ks=(1, 10, 100, 1000))``: Recall@1/10/100/1000,
  precision_at_1, MAP@R, R-Precision (exact, pessimistic ties).
- PML+faiss: ``AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r",
  "r_precision"), k=1000).get_accuracy(...)`` with its default faiss backend (exact search).
- GEMM floor: only the chunked similarity matrix products that retrieval_metrics cannot avoid
  (query chunks of histlib's default row count against all items, into one reused buffer).

Targets: histlib at most 1.0x PML+faiss and at most 1.3x the GEMM floor. The shared metrics
(precision_at_1, MAP@R, R-Precision) are printed side by side and must agree.

    python benchmarks/eval_cost.py                       # 30,000 items (about a minute on 2 cores)
    python benchmarks/eval_cost.py --items 60502 --classes 11316    # SOP's whole test split
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

TARGET_VS_PML = 1.0
TARGET_VS_GEMM = 1.3
SHARED = (("precision_at_1", "precision_at_1"), ("map@r", "mean_average_precision_at_r"),
          ("r_precision", "r_precision"))


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


def gemm_floor(embeddings: torch.Tensor, rows: int) -> dict:
    """The chunked similarity products alone: ``rows`` query rows at a time into one buffer."""
    buffer = torch.empty(rows, embeddings.shape[0], dtype=embeddings.dtype)
    reference_t = embeddings.t()
    for start in range(0, embeddings.shape[0], rows):
        stop = min(start + rows, embeddings.shape[0])
        torch.mm(embeddings[start:stop], reference_t, out=buffer[: stop - start])
    return {"chunk rows": rows}


def child(which: str, items: int, classes: int) -> None:
    embeddings, labels = sop_like(items, classes)
    # imports, and everything but the measured call, before the clock and the memory baseline
    from histlib.evaluation import _chunk_rows, retrieval_metrics
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    if which == "histlib":
        measured = lambda: retrieval_metrics(embeddings, labels, ks=(1, 10, 100, 1000))  # noqa: E731
    elif which == "pml":
        calculator = AccuracyCalculator(
            include=("precision_at_1", "mean_average_precision_at_r", "r_precision"), k=1000
        )
        measured = lambda: calculator.get_accuracy(embeddings, labels)  # noqa: E731
    else:
        measured = lambda: gemm_floor(embeddings, _chunk_rows(None, embeddings, len(embeddings)))  # noqa: E731
    try:  # forget the peak of making the inputs (Linux >= 4.0): the growth is the measured call's
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    with open("/proc/self/statm") as f:
        resident_before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    start = time.perf_counter()
    metrics = measured()
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
    parser.add_argument("--items", type=int, default=30000)
    parser.add_argument("--classes", type=int, default=5611)
    parser.add_argument("--child", choices=("histlib", "pml", "gemm"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.items, args.classes)
        return
    print(
        f"retrieval_metrics vs AccuracyCalculator (faiss, k=1000) vs the GEMM floor on {args.items} x 512 "
        f"random embeddings, {args.classes} classes of 2-12 items, CPU, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; targets: histlib <= {TARGET_VS_PML}x PML+faiss, "
        f"<= {TARGET_VS_GEMM}x GEMM floor"
    )
    ours = run_child("histlib", args.items, args.classes)
    theirs = run_child("pml", args.items, args.classes)
    floor = run_child("gemm", args.items, args.classes)
    gib = 2**30
    print(f"{'':28}{'histlib':>12}{'PML+faiss':>12}{'GEMM floor':>12}{'/PML':>8}{'/GEMM':>8}")
    print(f"{'time (s)':28}{ours['seconds']:>12.2f}{theirs['seconds']:>12.2f}{floor['seconds']:>12.2f}"
          f"{ours['seconds'] / theirs['seconds']:>8.2f}{ours['seconds'] / floor['seconds']:>8.2f}")
    print(f"{'peak memory growth (GiB)':28}{ours['growth'] / gib:>12.2f}{theirs['growth'] / gib:>12.2f}"
          f"{floor['growth'] / gib:>12.2f}{ours['growth'] / max(theirs['growth'], 1):>8.2f}"
          f"{ours['growth'] / max(floor['growth'], 1):>8.2f}")
    agree = True
    for name, pml_name in SHARED:
        a, b = ours["metrics"][name], theirs["metrics"][pml_name]
        agree &= abs(a - b) <= 1e-6
        print(f"{name:28}{a:>12.6f}{b:>12.6f}{'':>12}{'':>8}{abs(a - b):>8.0e}")
    for k in (1, 10, 100, 1000):
        print(f"{'recall@' + str(k):28}{ours['metrics'][f'recall@{k}']:>12.6f}{'-':>12}")
    print(f"(GEMM floor: {args.items} x {args.items} similarities in chunks of "
          f"{floor['metrics']['chunk rows']} rows; last column: |histlib - PML|)")
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    print(f"targets: <= {TARGET_VS_PML}x PML+faiss {verdict(ours['seconds'] <= TARGET_VS_PML * theirs['seconds'])}, "
          f"<= {TARGET_VS_GEMM}x GEMM floor {verdict(ours['seconds'] <= TARGET_VS_GEMM * floor['seconds'])}; "
          f"shared metrics {'agree' if agree else 'DISAGREE'} to 1e-6")


if __name__ == "__main__":
    main()
