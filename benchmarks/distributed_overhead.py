"""Training on 1 vs 2 gloo processes on the CPU: the glyphs recipe's step, the same global batch.

Every setup trains the glyphs recipe (small CNN, D = 64, HISTLoss, Adam) through histlib's
``train_one_epoch`` on the same in-memory global batches of 64 (no data loading in the timing):

  1 process, 2 threads   the single-process run, both cores
  1 process, 1 thread    the same, one core (what each of two ranks has)
  2 processes, per-GPU   DistributedDataParallel over model + loss, 32 images and one hypergraph per rank
  2 processes, global    the same, embeddings gathered: one hypergraph over 64, GlobalBatchNorm

On a 2-core machine two processes cannot beat one process that uses both cores: this measures
what the distributed machinery costs (gradient all-reduce of the model and the loss, the gather,
BatchNorm statistics, two processes instead of one), not a speed-up. The setups run in
interleaved rounds (fresh processes each round, a warm-up pass, then timed passes); the table
gives medians over all timed passes: wall time per step (rank 0, between barriers) and CPU time
per step summed over the processes, which other jobs on the machine skew less. The load average
is printed because they skew the wall times.

    python benchmarks/distributed_overhead.py [--steps 30] [--rounds 3] [--repeats 2] [--data-root data]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from pathlib import Path

import torch

from histlib import distributed
from histlib.training import build_criterion, build_model, build_optimiser, build_run_data, get_config
from histlib.training import train_loader, train_one_epoch
from histlib.training.parallel import ParallelObjective


def _timed(rank, world_size, threads, hypergraph, steps, repeats, data_root, out):
    warnings.simplefilter("ignore")
    torch.set_num_threads(threads)
    config = get_config("glyphs", data_root=data_root, selection="last", hypergraph=hypergraph)
    data = build_run_data(config)
    loader = train_loader(data.train, config, epoch=0, rank=rank, world_size=world_size)
    batches = [batch for _, batch in zip(range(steps), loader)]
    torch.manual_seed(config.seed)
    model = build_model(config)
    criterion = build_criterion(config, data.num_classes)
    parallel = None if world_size == 1 else ParallelObjective(model, criterion, hypergraph, torch.device("cpu"))
    optimizer, _ = build_optimiser(model, criterion, config)

    def one_pass():
        train_one_epoch(model, criterion, optimizer, batches, torch.device("cpu"), progress=False, parallel=parallel)

    one_pass()  # warm-up (and DDP's first-iteration bucket rebuild)
    wall, cpu = [], []
    for _ in range(repeats):
        distributed.barrier()
        start, start_cpu = time.perf_counter(), time.process_time()
        one_pass()
        cpu.append(time.process_time() - start_cpu)
        distributed.barrier()
        wall.append(time.perf_counter() - start)
    Path(f"{out}.{rank}").write_text(json.dumps({"wall": wall, "cpu": cpu}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per round")
    parser.add_argument("--data-root", default="data")
    args = parser.parse_args()
    batch = get_config("glyphs").batch_size
    setups = [("1 process, 2 threads", 1, 2, "per_gpu"), ("1 process, 1 thread", 1, 1, "per_gpu"),
              ("2 processes x 1 thread, per-GPU", 2, 1, "per_gpu"), ("2 processes x 1 thread, global", 2, 1, "global")]
    loads = [os.getloadavg()[0]]
    wall = {name: [] for name, *_ in setups}
    cpu = {name: [] for name, *_ in setups}
    out = f"/tmp/histlib_distributed_overhead_{os.getpid()}"
    for _ in range(args.rounds):
        for name, world, threads, hypergraph in setups:
            distributed.run_local(_timed, world, world, threads, hypergraph, args.steps, args.repeats, args.data_root, out)
            ranks = [json.loads(Path(f"{out}.{r}").read_text()) for r in range(world)]
            wall[name] += ranks[0]["wall"]
            cpu[name] += [sum(values) for values in zip(*(r["cpu"] for r in ranks))]
            for r in range(world):
                Path(f"{out}.{r}").unlink()
            loads.append(os.getloadavg()[0])
    print(f"glyphs recipe, HISTLoss, global batch {batch}, {args.steps} steps per pass, median of {args.rounds} "
          f"rounds x {args.repeats} passes; {os.cpu_count()} CPU cores; 1-minute load average "
          f"{min(loads):.1f}-{max(loads):.1f} during the run")
    base_wall = statistics.median(wall[setups[0][0]]) / args.steps
    base_cpu = statistics.median(cpu[setups[1][0]]) / args.steps
    print(f"{'':34}{'wall s/step':>12}{'images/s':>10}{'wall ratio':>11}{'CPU s/step':>12}{'CPU ratio':>11}")
    for name, *_ in setups:
        per_step, cpu_step = statistics.median(wall[name]) / args.steps, statistics.median(cpu[name]) / args.steps
        print(f"{name:34}{per_step:>12.4f}{batch / per_step:>10.0f}{per_step / base_wall:>11.2f}"
              f"{cpu_step:>12.4f}{cpu_step / base_cpu:>11.2f}")
    print("wall ratio: to 1 process with 2 threads; CPU ratio: to 1 process with 1 thread (CPU time summed over "
          "the processes; a waiting thread's spinning counts too).\nOn an idle 2-core machine two processes "
          "cannot beat one process using both cores: the CPU ratios of the 2-process rows are the distributed "
          "step's overhead (all-reduce, gather, BatchNorm statistics, the loss on every rank), not a speed-up. "
          "Wall times follow the machine's other jobs: with the cores oversubscribed, a 2-thread process loses "
          "most (its threads wait for each other).")


if __name__ == "__main__":
    main()
