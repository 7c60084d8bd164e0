"""What a distributed HIST step communicates: formulas at SOP scale, checked by counting on 2 gloo processes.

Per training step, K ranks, global batch N (per-GPU batch N / K), embedding width D:

  global hypergraph only
    embeddings + labels all-gathered     N*D*4 + N*8 bytes  (the gathered result)
    their gradient all-reduced           N*D*4              (backward of the gather: sum over ranks)
    GlobalBatchNorm statistics           per BatchNorm layer with c channels: K*(2c+1)*4 gathered
                                         forward and all-reduced backward (only where the
                                         backbone's BatchNorm trains: SOP, not CUB/Cars)
  both modes (DistributedDataParallel)
    gradient all-reduce                  (P_model + P_loss)*4; for HIST P_loss = 2*C*D (means,
                                         log_vars) + D*h + h + 2h + h*C + C (HGNN, hidden h)
    buffer broadcast                     the model's and loss's buffers (BatchNorm statistics)

Bytes on the wire per rank with ring algorithms (NCCL's usual choice): all-gather (K-1)/K times
the gathered size, all-reduce 2(K-1)/K times the reduced size, broadcast about its size.

Part 1 prints these for SOP (ResNet-50, D = 512, C = 11,318, HGNN hidden 512; per-GPU batch 32,
so N = 32K) for K = 2, 4, 8. Part 2 runs one real training step of the glyphs recipe (global
hypergraph) on 2 gloo processes, counts the tensors handed to every collective (torch.distributed
calls wrapped; DDP's gradient buckets through a communication hook) and prints them next to the
formulas.

    python benchmarks/distributed_communication.py [--data-root data]
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from collections import Counter
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from histlib import distributed
from histlib.training import build_criterion, build_model, build_run_data, get_config, parameter_groups
from histlib.training import train_loader
from histlib.training.parallel import ParallelObjective

MB = 1e6


def batchnorm_channels(model: nn.Module) -> list[int]:
    return [m.num_features for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def buffer_bytes(*modules: nn.Module) -> int:
    return sum(b.numel() * b.element_size() for m in modules for b in m.buffers())


def payloads(n: int, d: int, world: int, model: nn.Module, criterion: nn.Module, bn_trains: bool) -> dict:
    """Bytes handed to collectives per step (global hypergraph), by the formulas of the module docstring."""
    bn = sum(world * (2 * c + 1) * 4 for c in batchnorm_channels(model)) if bn_trains else 0
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {"gathered": n * d * 4 + n * 8 + bn, "all_reduced": n * d * 4 + bn,
            "ddp_model": params(model) * 4, "ddp_loss": params(criterion) * 4,
            "buffers": buffer_bytes(model, criterion), "bn": bn, "embeddings": n * d * 4 + n * 8}


def wire_per_rank(p: dict, world: int, hypergraph: str) -> float:
    ring = (world - 1) / world
    ddp = 2 * ring * (p["ddp_model"] + p["ddp_loss"]) + p["buffers"]
    if hypergraph == "per_gpu":
        return ddp + 2 * ring * 12  # + the logged losses' mean
    return ddp + ring * p["gathered"] + 2 * ring * p["all_reduced"]


def sop_table() -> None:
    config = get_config("sop", pretrained=False)
    model = build_model(config)
    criterion = build_criterion(config, 11318)
    d, per_gpu = config.embedding_size, 32
    print(f"Part 1. SOP: ResNet-50 + Linear(2048, {d}) ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M "
          f"parameters), HISTLoss C = 11318 ({sum(p.numel() for p in criterion.parameters()) / 1e6:.2f}M: means + "
          f"log_vars {2 * 11318 * d / 1e6:.2f}M, HGNN {sum(p.numel() for p in criterion.hgnn.parameters()) / 1e6:.2f}M); "
          f"per-GPU batch {per_gpu}; backbone BatchNorm trains (freeze_bn={config.freeze_bn}). MB per step.")
    header = (f"{'K':>2} {'N':>4} | {'emb+labels':>10} {'emb grad':>9} {'BN stats':>9} | {'DDP model':>9} "
              f"{'DDP loss':>9} {'buffers':>8} | {'wire/rank per-GPU':>17} {'wire/rank global':>16} {'global/per-GPU':>14}")
    print(f"{'':8}| {'gathered':>10} {'reduced':>9} {'g + r':>9} | {'all-reduce':>9} {'all-reduce':>9} "
          f"{'bcast':>8} |")
    print(header)
    for world in (2, 4, 8):
        n = per_gpu * world
        p = payloads(n, d, world, model, criterion, bn_trains=not config.freeze_bn)
        per, glob = wire_per_rank(p, world, "per_gpu"), wire_per_rank(p, world, "global")
        print(f"{world:>2} {n:>4} | {p['embeddings'] / MB:>10.3f} {n * d * 4 / MB:>9.3f} {2 * p['bn'] / MB:>9.3f} | "
              f"{p['ddp_model'] / MB:>9.1f} {p['ddp_loss'] / MB:>9.1f} {p['buffers'] / MB:>8.2f} | "
              f"{per / MB:>17.1f} {glob / MB:>16.1f} {glob / per:>14.4f}")
        if world == 8:
            embeddings_share = (wire_per_rank({**p, "bn": 0, "gathered": p["embeddings"], "all_reduced": n * d * 4},
                                              world, "global") - per) / per
    share = sum(p.numel() for p in criterion.parameters()) / sum(p.numel() for p in model.parameters())
    print(f"HIST's own parameters add {share:.0%} to the model's gradient all-reduce at SOP scale (both modes). At "
          f"K = 8 the global hypergraph adds {glob / per - 1:.1%} per step, of which the embeddings' gather and "
          f"gradient are {embeddings_share:.1%} and GlobalBatchNorm's statistics the rest.")


def _count_step(rank, data_root, out):
    warnings.simplefilter("ignore")
    config = get_config("glyphs", data_root=data_root, selection="last", hypergraph="global")
    data = build_run_data(config)
    images, labels = next(iter(train_loader(data.train, config, epoch=0, rank=rank, world_size=2)))
    torch.manual_seed(config.seed)
    model, criterion = build_model(config), build_criterion(config, data.num_classes)
    parallel = ParallelObjective(model, criterion, "global", torch.device("cpu"))
    optimizer = torch.optim.Adam(parameter_groups(model, criterion, config))
    counted = Counter()
    gather, reduce, broadcast = dist.all_gather, dist.all_reduce, dist._broadcast_coalesced

    def counting_gather(parts, tensor, *args, **kwargs):
        counted["gathered"] += sum(t.numel() * t.element_size() for t in parts)
        return gather(parts, tensor, *args, **kwargs)

    def counting_reduce(tensor, *args, **kwargs):
        counted["all_reduced"] += tensor.numel() * tensor.element_size()
        return reduce(tensor, *args, **kwargs)

    def counting_broadcast(group, tensors, *args, **kwargs):
        counted["buffers"] += sum(t.numel() * t.element_size() for t in tensors)
        return broadcast(group, tensors, *args, **kwargs)

    def counting_hook(state, bucket):  # DDP's default: the bucket's mean over ranks
        counted["ddp"] += bucket.buffer().numel() * bucket.buffer().element_size()
        work = reduce(bucket.buffer().div_(dist.get_world_size()), async_op=True)
        return work.get_future().then(lambda future: future.value()[0])

    ddp = parallel._wrapper()  # built now, so that the hook can be registered before the step
    ddp.register_comm_hook(None, counting_hook)
    dist.all_gather, dist.all_reduce, dist._broadcast_coalesced = counting_gather, counting_reduce, counting_broadcast
    model.train(), criterion.train()
    loss = parallel.loss(images, labels)
    loss.backward()
    optimizer.step()
    dist.all_gather, dist.all_reduce, dist._broadcast_coalesced = gather, reduce, broadcast
    if rank == 0:
        expected = payloads(config.batch_size, config.embedding_size, 2, model, criterion, bn_trains=True)
        expected["ddp"] = expected["ddp_model"] + expected["ddp_loss"]
        Path(out).write_text(json.dumps({"counted": dict(counted), "expected": expected}))


def measured_table(data_root: str) -> None:
    out = Path(f"/tmp/histlib_distributed_communication_{os.getpid()}.json")
    distributed.run_local(_count_step, 2, data_root, str(out))
    values = json.loads(out.read_text())
    out.unlink()
    config = get_config("glyphs")
    print(f"\nPart 2. One training step, glyphs recipe (small CNN, D = {config.embedding_size}, global batch "
          f"{config.batch_size}), global hypergraph, 2 gloo processes: bytes handed to collectives by rank 0.")
    print(f"{'':34}{'counted':>10}{'formula':>10}")
    rows = [("all_gather (emb, labels, BN stats)", "gathered"), ("all_reduce (emb grad, BN stats)", "all_reduced"),
            ("DDP gradient buckets", "ddp"), ("DDP buffer broadcast", "buffers")]
    for name, key in rows:
        print(f"{name:34}{values['counted'].get(key, 0):>10}{values['expected'][key]:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    args = parser.parse_args()
    sop_table()
    measured_table(args.data_root)


if __name__ == "__main__":
    main()
