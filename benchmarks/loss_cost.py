"""Forward+backward cost of HISTLoss next to pytorch-metric-learning's ProxyAnchorLoss.

Same N, C, D for both, in one run: median wall time over interleaved repeats, and peak memory
growth of one forward+backward (CUDA: peak allocated bytes; CPU: growth of the peak resident
set size of a fresh child process, so one loss's allocations cannot hide the other's).

    python benchmarks/loss_cost.py              # CUB scale and SOP scale
    python benchmarks/loss_cost.py --repeats 40 --scales sop
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from pytorch_metric_learning.losses import ProxyAnchorLoss

from histlib import HISTLoss

# (N, C, D, tau, alpha) per scale: the recipe's batch size, training classes and HIST settings
SCALES = {
    "cub": (32, 100, 512, 32.0, 1.1),
    "sop": (180, 11318, 512, 16.0, 2.0),
}


def build(loss_name: str, scale: str, device: torch.device, seed: int = 0):
    """Returns (loss module, embeddings (N, D) requiring grad, labels (N,))."""
    n, c, d, tau, alpha = SCALES[scale]
    torch.manual_seed(seed)
    if loss_name == "HIST":
        loss = HISTLoss(c, d, tau=tau, alpha=alpha)
    else:
        loss = ProxyAnchorLoss(c, d)
    embeddings = torch.randn(n, d, device=device, requires_grad=True)
    labels = torch.randint(0, c, (n,), device=device)
    return loss.to(device), embeddings, labels


def step(loss, embeddings, labels) -> None:
    """One forward+backward, gradients reset as a training loop would."""
    loss.zero_grad(set_to_none=True)
    embeddings.grad = None
    loss(embeddings, labels).backward()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_times(scale: str, device: torch.device, repeats: int) -> dict[str, float]:
    """Median seconds per forward+backward for each loss, repeats interleaved against drift."""
    setups = {name: build(name, scale, device) for name in ("HIST", "ProxyAnchor")}
    times = {name: [] for name in setups}
    for setup in setups.values():  # warm-up
        for _ in range(2):
            step(*setup)
    sync(device)
    for _ in range(repeats):
        for name, setup in setups.items():
            start = time.perf_counter()
            step(*setup)
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def gemm_floor(scale: str, device: torch.device, repeats: int, hidden: int = 512) -> float:
    """Median seconds of the nine (N x C x D/hidden) matrix products an exact HIST step needs.

    Distances: 2 forward, 2 for the embeddings' gradient, 2 for the class parameters' gradient;
    HGNN output layer: 1 forward, 2 backward. ProxyAnchorLoss needs three of the first kind.
    """
    n, c, d, _, _ = SCALES[scale]
    x, w = torch.randn(n, d, device=device), torch.randn(c, d, device=device)
    m, w2 = torch.randn(n, hidden, device=device), torch.randn(c, hidden, device=device)
    g = torch.randn(n, c, device=device)

    def products():
        for _ in range(2):
            x @ w.t(), g @ w, g.t() @ x
        m @ w2.t(), g @ w2, g.t() @ m

    products()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        products()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory_growth(loss_name: str, scale: str, device: torch.device) -> float:
    """Bytes by which one forward+backward raises peak memory above the state before it."""
    if device.type == "cuda":
        setup = build(loss_name, scale, device)
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step(*setup)
        torch.cuda.synchronize(device)
        return float(torch.cuda.max_memory_allocated(device) - before)
    out = subprocess.run(
        [sys.executable, __file__, "--child", loss_name, scale],
        check=True, capture_output=True, text=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["growth"])


def child(loss_name: str, scale: str) -> None:
    """In a fresh process: resident-set peak growth (bytes) of one forward+backward on CPU."""
    setup = build(loss_name, scale, torch.device("cpu"))
    with open("/proc/self/statm") as f:
        resident_before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    step(*setup)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"growth": max(0, peak - resident_before)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--scales", default="cub,sop", help="comma-separated: " + ",".join(SCALES))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--child", nargs=2, metavar=("LOSS", "SCALE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    device = torch.device(args.device)
    print(
        f"HISTLoss vs ProxyAnchorLoss, forward+backward on {device.type} "
        f"(torch {torch.__version__}, {torch.get_num_threads()} threads), "
        f"median of {args.repeats} interleaved repeats"
    )
    header = (
        f"{'scale':<6}{'N':>5}{'C':>7}{'D':>5} | {'HIST ms':>9}{'PA ms':>9}{'ratio':>7} | "
        f"{'HIST MB':>9}{'PA MB':>8}{'ratio':>7} | {'HIST GEMMs ms':>14}"
    )
    print(header)
    print("-" * len(header))
    for scale in args.scales.split(","):
        n, c, d, _, _ = SCALES[scale]
        t = median_times(scale, device, args.repeats)
        mem = {name: peak_memory_growth(name, scale, device) for name in ("HIST", "ProxyAnchor")}
        floor = gemm_floor(scale, device, args.repeats)
        print(
            f"{scale:<6}{n:>5}{c:>7}{d:>5} | {t['HIST'] * 1e3:>9.1f}{t['ProxyAnchor'] * 1e3:>9.1f}"
            f"{t['HIST'] / t['ProxyAnchor']:>7.2f} | {mem['HIST'] / 2**20:>9.1f}"
            f"{mem['ProxyAnchor'] / 2**20:>8.1f}{mem['HIST'] / max(mem['ProxyAnchor'], 1):>7.2f} | "
            f"{floor * 1e3:>14.1f}"
        )
    print(
        "HIST GEMMs: the nine matrix products of an exact HIST step alone (a floor for HIST's time;\n"
        "ProxyAnchorLoss needs three of them). Memory: peak growth of one forward+backward."
    )


if __name__ == "__main__":
    main()
