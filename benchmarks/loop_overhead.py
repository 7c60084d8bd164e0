"""Training-loop overhead: histlib's train_one_epoch against the bare forward+backward+step.

The same batches (of the glyphs recipe, HISTLoss) go through
  bare:            for x, y in batches: zero_grad; loss(model(x), y).backward(); step
  loop, in memory: train_one_epoch over the same in-memory batches (progress bar, loss checks,
                   bookkeeping)
  loop, loading:   train_one_epoch over the DataLoader (adds decoding and augmentation)
Times are medians of interleaved repeats; overheads are relative to bare.

    python benchmarks/loop_overhead.py [--steps 40] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


from histlib.models import EmbeddingNet
from histlib.training import build_criterion, build_optimiser, build_run_data, get_config, train_loader, train_one_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: the recipe's)")
    args = parser.parse_args()
    config = get_config("glyphs", selection="last")
    if args.workers is not None:
        config = get_config("glyphs", selection="last", num_workers=args.workers)
    data = build_run_data(config)
    torch.manual_seed(0)
    model = EmbeddingNet.from_backbone(config.backbone, embedding_size=config.embedding_size)
    criterion = build_criterion(config, data.num_classes)
    optimizer, _ = build_optimiser(model, criterion, config)
    loader = train_loader(data.train, config, epoch=0)
    batches = [batch for _, batch in zip(range(args.steps), loader)]
    device = torch.device("cpu")

    def bare():
        model.train(), criterion.train()
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            criterion(model(x), y).backward()
            optimizer.step()

    def loop_in_memory():
        train_one_epoch(model, criterion, optimizer, batches, device, progress=True, description="loop")

    def loop_loading():
        train_one_epoch(model, criterion, optimizer, loader, device, max_steps=args.steps, progress=True,
                        description="loop")

    runs = {"bare forward+backward+step": bare, "loop, in-memory batches": loop_in_memory,
            "loop, DataLoader (decode + augment)": loop_loading}
    times = {name: [] for name in runs}
    bare()  # warm-up
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["bare forward+backward+step"])
    images = args.steps * config.batch_size
    print(f"glyphs recipe, {args.steps} steps of {config.batch_size} images, HISTLoss, CPU "
          f"{torch.get_num_threads()} threads, {config.num_workers} DataLoader workers, "
          f"median of {args.repeats} interleaved repeats")
    print(f"{'':38}{'seconds':>9}{'images/s':>10}{'overhead':>10}")
    for name in runs:
        median = statistics.median(times[name])
        print(f"{name:38}{median:>9.2f}{images / median:>10.0f}{(median / base - 1) * 100:>9.1f}%")


if __name__ == "__main__":
    main()
