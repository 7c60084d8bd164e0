"""Training on several processes (2 gloo ranks on the CPU) against one process.

One pair of ranks (a module fixture) runs every multi-process check that needs a healthy group:
one DDP step per hypergraph mode, evaluation across ranks, a short fit (global hypergraph), an
interrupted and resumed fit (per-GPU hypergraph), and finally a rank that dies mid-epoch.
``torchrun`` runs the command line: a rank that stops responding (the timeout), then --resume.
The single-process references are computed here, in the test process.

Tolerances. Float64: the global hypergraph's loss and every gradient equal one process on the
concatenated batch to 1e-9 of each tensor's largest entry (the scheme is exact; what remains is
rounding). Float32: to 1e-3 of each tensor's largest entry: BatchNorm makes some gradients
(e.g. the HGNN's first bias) sums that cancel to ~0, whose float32 rounding is large relative to
themselves, though never above ~2e-4 of the tensor's scale here. Fits: 2-process and 1-process
runs see the same batches in the same order from the same initialisation, but the convolutions
run on half batches and the BatchNorm statistics are combined from per-rank ones, so losses agree
to rounding: 1e-5 relative (measured <= 1e-6); the retrieval metrics to 1e-6, i.e. the same (a
rounding-level difference in the embeddings could only change them through a near-exact tie).
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from histlib import distributed
from histlib.data import make_sampler
from histlib.data.samplers import RankShardSampler
from histlib.evaluation import embed, retrieval_metrics
from histlib.losses import HISTLoss
from histlib.models import EmbeddingNet
from histlib.training import RunFolderError, fit, get_config
from histlib.training.parallel import ParallelObjective, check_world_size
from histlib.training.runs import config_fingerprint, config_identity

from ..conftest import Blobs, blob_data, small_config

REPO = Path(__file__).resolve().parents[2]
WORLD = 2


# -- launching ranks -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, timeout_s: float, target, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), HISTLIB_DIST_TIMEOUT_S=str(timeout_s))
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    distributed.init_process_group("gloo", rank, WORLD)
    try:
        target(rank, Path(out))
    except BaseException as error:
        (Path(out) / f"rank{rank}.error").write_text(f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        raise
    dist.destroy_process_group()


def _launch(target, out: Path, timeout_s: float = 60.0, guard_s: float = 300.0) -> list[int | None]:
    """Run ``target(rank, out)`` on 2 gloo ranks; their exit codes. After ``guard_s`` seconds (a hang
    guard) a rank still running is killed (exit code None)."""
    out.mkdir(parents=True, exist_ok=True)
    context = mp.get_context("spawn")
    port = _free_port()
    ranks = [context.Process(target=_rank_main, args=(r, port, timeout_s, target, str(out))) for r in range(WORLD)]
    for process in ranks:
        process.start()
    deadline = time.monotonic() + guard_s
    for process in ranks:
        process.join(max(0.0, deadline - time.monotonic()))
    codes = [process.exitcode for process in ranks]
    for process in ranks:
        if process.is_alive():
            process.kill()
            process.join()
    return codes


def _report_group(rank: int, out: str) -> None:
    """run_local's target: this rank's view of the process group."""
    Path(out, f"rank{rank}.txt").write_text(f"{distributed.rank()} {distributed.world_size()} {distributed.is_distributed()}")


@pytest.mark.slow
def test_run_local_starts_one_process_group_for_benchmarks(tmp_path):
    distributed.run_local(_report_group, 2, str(tmp_path))
    assert sorted(p.read_text() for p in tmp_path.glob("rank*.txt")) == ["0 2 True", "1 2 True"]
    one = tmp_path / "one"
    one.mkdir()
    distributed.run_local(_report_group, 1, str(one))
    assert (one / "rank0.txt").read_text() == "0 1 False"  # one process: no group


def _errors(out: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(out.glob("rank*.error")))


# -- the models, data and steps both sides compute --------------------------------------------------


def _initial(dtype=torch.float32):
    """A small CNN (with BatchNorm) and HIST over 8 classes, seeded; a global batch of 16."""
    torch.manual_seed(0)
    model = EmbeddingNet.from_backbone("small_cnn", embedding_size=16).to(dtype)
    criterion = HISTLoss(8, 16, tau=32.0, alpha=1.1, hgnn_hidden=16).to(dtype)
    g = torch.Generator().manual_seed(5)
    images = torch.randn(16, 3, 12, 12, generator=g).to(dtype)
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 0, 1, 4, 4])
    return model.train(), criterion.train(), images, labels


def _gradients(model, criterion) -> dict[str, torch.Tensor]:
    named = [("model." + n, p) for n, p in model.named_parameters()] + \
            [("loss." + n, p) for n, p in criterion.named_parameters()]
    return {name: p.grad.detach().clone() for name, p in named}


def _eval_split():
    return Blobs(range(0, 5), 7, seed=9)  # 35 items: 2 ranks get 18 each, one padding duplicate


def _fit_config(root: Path, **overrides):
    """2 epochs (the first a warm-up), global hypergraph. Learning rates below small_config's: at
    lr_ds=0.1 Adam's first, sign-like steps turn float32 rounding into visible differences within
    a few steps (measured: losses 2e-3 apart after 12 steps); here they stay at rounding level."""
    values = dict(epochs=2, warmup_epochs=1, hypergraph="global", lr=1e-3, lr_ds=1e-2,
                  output_dir=str(root / "global"))
    values.update(overrides)
    return small_config(root, **values)


def _summary(result) -> dict:
    return {"history": [{k: v for k, v in row.items() if k not in ("images_per_s", "seconds")}
                        for row in result.history],
            "test_metrics": result.test_metrics, "selected_epoch": result.selected_epoch, "run_id": result.run_id,
            "model": {k: v.clone() for k, v in result.model.state_dict().items()}}


class _Interrupted(Exception):
    pass


def _stop_after_first(row):
    if row["epoch"] == 1:
        raise _Interrupted


def _forbid_run_folder_writes() -> None:
    """Make every way into the run folder fail on this rank (the loop must not take any)."""
    from histlib.training import loop, runs

    def refuse(*args, **kwargs):
        raise AssertionError("a rank other than 0 touched the run folder")

    runs.atomic_write_bytes = refuse
    runs.RunFolder.lock = refuse
    runs.RunFolder.start = refuse
    runs.RunFolder.clear = refuse
    loop._tensorboard = refuse


def _fail_mid_epoch(epoch: int, step: int, how: str = "exit") -> None:
    """Patch this process to stop at ``step`` of ``epoch`` (both 1-based): "exit" at once (as when
    killed), or "hang" (alive, holding its connections, never taking part again)."""
    from histlib.training import loop, parallel

    train_epoch, loss, where = loop._train_epoch, parallel.ParallelObjective.loss, {"epoch": 0, "step": 0}

    def counted_epoch(session, index, progress):
        where.update(epoch=index + 1, step=0)
        return train_epoch(session, index, progress)

    def counted_loss(self, images, labels):
        where["step"] += 1
        if (where["epoch"], where["step"]) == (epoch, step):
            if how == "hang":
                time.sleep(600)
            os._exit(3)
        return loss(self, images, labels)

    loop._train_epoch = counted_epoch
    parallel.ParallelObjective.loss = counted_loss


def _broken_on_rank_1(rank: int):
    data = blob_data()
    if rank == 1:
        data.train.labels = [y + 1 for y in data.train.labels]
    return data


def _session_worker(rank: int, out: Path) -> None:
    results = {}
    # one DDP step per mode and dtype, on this rank's half of the global batch
    for dtype in (torch.float64, torch.float32):
        for mode in ("global", "per_gpu"):
            model, criterion, images, labels = _initial(dtype)
            objective = ParallelObjective(model, criterion, mode, torch.device("cpu"))
            half = slice(rank * 8, rank * 8 + 8)
            for p in model.trunk_parameters():  # a warm-up step first: DDP without the trunk
                p.requires_grad_(False)
            objective.loss(images[half], labels[half]).backward()
            for p in list(model.parameters()) + list(criterion.parameters()):
                p.requires_grad_(True)
                p.grad = None
            model.load_state_dict(_initial(dtype)[0].state_dict())  # the step compared: a rebuilt DDP, all
            loss = objective.loss(images[half], labels[half])       # parameters, from the initial state
            loss.backward()
            results[mode, dtype] = {"loss": loss.detach(), "grads": _gradients(model, criterion),
                                    "buffers": {k: v.clone() for k, v in model.state_dict().items()}}
    # evaluation across ranks
    model = _initial()[0].eval()
    results["embedded"] = distributed.embed_sharded(model, _eval_split(), batch_size=8, progress=False)
    # a fit with the global hypergraph; only rank 0 may write
    if rank != 0:
        _forbid_run_folder_writes()
    results["fit"] = _summary(fit(_fit_config(out), blob_data(), progress=False))
    # per-GPU hypergraph: straight, and interrupted after epoch 1 then resumed
    straight = small_config(out, epochs=2, hypergraph="per_gpu", output_dir=str(out / "straight"))
    results["straight"] = _summary(fit(straight, blob_data(), progress=False))
    interrupted = small_config(out, epochs=2, hypergraph="per_gpu", output_dir=str(out / "resumed"))
    try:
        fit(interrupted, blob_data(), progress=False, on_epoch_end=_stop_after_first)
    except _Interrupted:
        results["interrupted"] = True
    results["resumed"] = _summary(fit(interrupted, blob_data(), resume=True, progress=False))
    # start-up errors: rank 0's (nothing to resume), then rank 1's alone (its data is broken)
    for name, config, data, resume in (
            ("folder_error", _fit_config(out, output_dir=str(out / "empty")), blob_data(), True),
            ("data_error", _fit_config(out, output_dir=str(out / "data_error")), _broken_on_rank_1(rank), False)):
        try:
            fit(config, data, resume=resume, progress=False)
        except Exception as error:
            results[name] = (type(error).__name__, str(error), distributed.reported_by_main(error))
    torch.save(results, out / f"rank{rank}.pt")
    # last: rank 1 dies in the middle of epoch 2; rank 0 must stop with a clear error
    if rank == 1:
        _fail_mid_epoch(epoch=2, step=3)
    try:
        fit(_fit_config(out, output_dir=str(out / "dies")), blob_data(), progress=False)
    except distributed.RankFailedError as error:
        (out / f"rank{rank}.failure").write_text(str(error))


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_ranks")
    codes = _launch(_session_worker, out)
    assert codes == [0, 3], f"exit codes {codes}\n{_errors(out)}"
    return out, [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def _assert_close_by_scale(got: dict, want: dict, scale_tolerance: float) -> None:
    assert got.keys() == want.keys()
    for name in want:
        scale = want[name].abs().max().item()
        error = (got[name] - want[name]).abs().max().item()
        assert error <= scale_tolerance * max(scale, 1e-30), (name, error, scale)


# -- the multi-process checks --------------------------------------------------------------------


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-9), (torch.float32, 1e-3)])
def test_global_hypergraph_equals_one_process_on_the_concatenated_batch(two_ranks, dtype, tolerance):
    _, ranks = two_ranks
    model, criterion, images, labels = _initial(dtype)
    loss = criterion(model(images), labels)
    loss.backward()
    want = _gradients(model, criterion)
    assert len(want) == 19 and {"loss.means", "loss.log_vars", "loss.hgnn.theta1.weight"} <= want.keys()
    for result in ranks:
        got = result["global", dtype]
        assert torch.equal(got["loss"], ranks[0]["global", dtype]["loss"])  # every rank the same value
        torch.testing.assert_close(got["loss"], loss.detach(), rtol=tolerance, atol=0)
        _assert_close_by_scale(got["grads"], want, tolerance)  # model and loss parameters, after DDP
        # GlobalBatchNorm's running statistics are those of the whole batch
        _assert_close_by_scale({k: v for k, v in got["buffers"].items() if "running" in k},
                               {k: v for k, v in model.state_dict().items() if "running" in k}, tolerance)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-9), (torch.float32, 1e-3)])
def test_per_gpu_hypergraph_is_the_mean_of_the_per_rank_losses(two_ranks, dtype, tolerance):
    _, ranks = two_ranks
    losses, grads = [], []
    for rank in range(WORLD):
        model, criterion, images, labels = _initial(dtype)
        half = slice(rank * 8, rank * 8 + 8)
        loss = criterion(model(images[half]), labels[half])
        loss.backward()
        losses.append(loss.detach())
        grads.append(_gradients(model, criterion))
    mean = {name: (grads[0][name] + grads[1][name]) / 2 for name in grads[0]}
    for rank, result in enumerate(ranks):
        got = result["per_gpu", dtype]
        torch.testing.assert_close(got["loss"], losses[rank], rtol=tolerance, atol=0)  # its own batch's loss
        _assert_close_by_scale(got["grads"], mean, tolerance)  # DDP: the gradient of the mean loss
    assert not torch.allclose(losses[0], losses[1])  # two different hypergraphs


def test_evaluation_across_ranks_equals_one_process(two_ranks):
    _, ranks = two_ranks
    model = _initial()[0].eval()
    split = _eval_split()
    embeddings, labels = embed(model, split, batch_size=8, progress=False)
    for result in ranks:
        got_embeddings, got_labels = result["embedded"]
        assert got_embeddings.shape == (35, 16) and torch.equal(got_labels, labels)  # padding dropped, in order
        torch.testing.assert_close(got_embeddings, embeddings, rtol=1e-5, atol=1e-6)
        assert retrieval_metrics(got_embeddings, got_labels) == retrieval_metrics(embeddings, labels)


def test_a_two_process_fit_ends_where_one_process_does_and_only_rank_0_writes(two_ranks, tmp_path):
    out, ranks = two_ranks
    single = fit(_fit_config(tmp_path), blob_data(), progress=False)
    for result in ranks:
        got = result["fit"]
        assert got["selected_epoch"] == single.selected_epoch and got["run_id"] == ranks[0]["fit"]["run_id"]
        for a, b in zip(got["history"], single.history, strict=True):
            assert a["warm_up"] == b["warm_up"] and a["lr"] == b["lr"]
            for key in ("train_loss", "train_distribution_loss", "train_hgnn_loss"):
                assert a[key] == pytest.approx(b[key], rel=1e-5), key
            for key in b:
                if key.startswith(("val_", "test_")):
                    assert a[key] == pytest.approx(b[key], abs=1e-6), key
        for key, value in single.test_metrics.items():
            assert got["test_metrics"][key] == pytest.approx(value, abs=1e-6), key
    # rank 1's every way into the folder raised: the files are rank 0's
    results = json.loads((out / "global" / "results.json").read_text())
    assert results["world_size"] == 2 and results["hypergraph"] == "global"
    assert results["run_id"] == ranks[0]["fit"]["run_id"]
    assert json.loads((tmp_path / "global" / "results.json").read_text())["world_size"] == 1
    checkpoint = torch.load(out / "global" / "checkpoint.pt", weights_only=True)
    assert checkpoint["world_size"] == 2 and checkpoint["epoch"] == 2


def test_resume_under_two_processes_continues_to_the_same_numbers(two_ranks):
    _, ranks = two_ranks
    for result in ranks:
        assert result["interrupted"]
        straight, resumed = result["straight"], result["resumed"]
        assert resumed["history"] == straight["history"]
        for name, value in straight["model"].items():
            assert torch.equal(resumed["model"][name], value), name
    assert ranks[0]["resumed"]["history"] == ranks[1]["resumed"]["history"]  # the ranks agree


def test_a_start_up_error_on_any_rank_stops_every_rank_and_is_reported_once(two_ranks):
    _, ranks = two_ranks
    kind, message, quiet = ranks[0]["folder_error"]  # rank 0 alone opens the folder
    assert kind == "RunFolderError" and "cannot resume: " in message and "does not exist" in message and not quiet
    kind, message, quiet = ranks[1]["folder_error"]
    assert kind == "RankFailedError" and message.startswith("rank 0 of 2 failed while starting the run: "
                                                            "RunFolderError") and quiet  # rank 0 prints it
    kind, message, quiet = ranks[1]["data_error"]  # rank 1's own error: it reports it
    assert kind == "ValueError" and "contiguous" in message and not quiet
    kind, message, quiet = ranks[0]["data_error"]
    assert kind == "RankFailedError" and "rank 1 of 2 failed while starting the run: ValueError" in message


def test_a_rank_that_dies_mid_epoch_stops_the_others_with_a_clear_error(two_ranks):
    out, _ = two_ranks
    message = (out / "rank0.failure").read_text()
    assert "rank 0 of 2 stopped while in epoch 2: another rank of this run failed" in message
    assert "--resume" in message
    checkpoint = torch.load(out / "dies" / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 1  # epoch 1 is safe on disk


# -- torchrun and the command line -----------------------------------------------------------------


def _torchrun(args: list[str], env: dict, module: str = "histlib.train") -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", module, *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_torchrun_stops_a_hung_rank_after_the_timeout_and_resumes(tmp_path):
    from ..data.fixtures import make_cub

    make_cub(tmp_path, {c: ["RGB"] * 3 for c in range(1, 201)})
    out = tmp_path / "run"
    args = ["--config", "cub", "--no-progress", "--set", f"data_root={tmp_path}", "backbone=small_cnn",
            "pretrained=false", "image_size=32", "embedding_size=16", "hgnn_hidden=16", "epochs=2", "batch_size=32",
            "num_workers=0", "eval_batch_size=64", "device=cpu", "hypergraph=global", f"output_dir={out}"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HISTLIB_DIST_TIMEOUT_S": "60",
           "PYTHONWARNINGS": "ignore"}
    # rank 1 stops responding at step 2 of epoch 2 (alive, connections open): rank 0 must give up
    # after HISTLIB_DIST_TIMEOUT_S with a clear message, and torchrun then ends rank 1
    hung = _torchrun(args, {**env, "HISTLIB_DIST_TIMEOUT_S": "10", "HISTLIB_TEST_FAIL": "2,2,hang"},
                     module="tests.training.test_distributed")
    assert hung.returncode != 0, hung.stderr[-3000:]
    assert ("python -m histlib.train (rank 0 of 2): rank 0 of 2 stopped while in epoch 2: another rank of this "
            "run failed, was killed or did not respond within 10 s") in hung.stderr, hung.stderr[-3000:]
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"  # never finished
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = _torchrun([*args, "--resume"], env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("R@1") == 1 and "results.json" in resumed.stdout  # rank 0 alone prints
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == 2 and results["hypergraph"] == "global"
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history["epochs"]] == [1, 2]


# -- one process: samplers, settings, identity -------------------------------------------------------


def test_rank_shards_split_every_global_batch_in_rank_order():
    labels = np.repeat(np.arange(10), 5)
    whole = list(make_sampler(labels, batch_size=8, seed=3))
    shards = [list(make_sampler(labels, batch_size=8, seed=3, rank=r, world_size=2)) for r in range(2)]
    assert all(len(s) == 48 // 2 for s in shards) and not set(shards[0]) & set(shards[1])
    for k in range(6):
        assert shards[0][4 * k:4 * k + 4] + shards[1][4 * k:4 * k + 4] == whole[8 * k:8 * k + 8]


def test_m_per_class_shards_hold_whole_classes_and_the_global_batch_the_recipe():
    labels = np.repeat(np.arange(10), 5)
    shards = []
    for rank in range(2):
        from histlib.runtime import seed_everything

        seed_everything(7)  # the m-per-class draws come from one state, the same on every rank
        shards.append(np.array(list(make_sampler(labels, 8, images_per_class=2, rank=rank, world_size=2))))
    seed_everything(7)
    whole = np.array(list(make_sampler(labels, 8, images_per_class=2)))
    for k in range(len(shards[0]) // 4):
        parts = [shards[r][4 * k:4 * k + 4] for r in range(2)]
        assert np.array_equal(np.concatenate(parts), whole[8 * k:8 * k + 8])
        for part in parts:  # 2 whole classes per rank, 4 classes x 2 images per global batch
            assert sorted(np.bincount(labels[part]).tolist())[-2:] == [2, 2]
        assert not set(labels[parts[0]]) & set(labels[parts[1]])


def test_shards_refuse_what_they_cannot_split():
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        RankShardSampler(range(10), batch_size=5, rank=0, world_size=2)
    with pytest.raises(ValueError, match="rank must lie in 0..1"):
        make_sampler(range(10), 4, seed=0, rank=2, world_size=2)


def test_hypergraph_setting_is_checked_and_per_gpu_batches_too():
    with pytest.raises(ValueError, match="hypergraph must be one of"):
        get_config("glyphs", hypergraph="everywhere")
    with pytest.raises(ValueError, match="global batch and must be a multiple"):
        check_world_size(get_config("cub", batch_size=30), 4)
    with pytest.raises(ValueError, match="whole classes"):
        check_world_size(get_config("cub", batch_size=32, images_per_class=8), 8)
    check_world_size(get_config("cub", batch_size=32, images_per_class=8, hypergraph="global"), 8)
    with pytest.warns(UserWarning, match="8 samples; HIST is reported to degrade below 32"):
        check_world_size(get_config("cub", batch_size=32), 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_world_size(get_config("cub", batch_size=128), 4)
        check_world_size(get_config("cub", batch_size=32, hypergraph="global"), 4)


def test_the_default_hypergraph_keeps_the_identity_of_runs_written_before_it_existed():
    config = get_config("glyphs")
    assert "hypergraph" not in config_identity(config)  # as in manifests written before the field
    old_manifest = {k: v for k, v in config.to_dict().items() if k != "hypergraph"}
    assert config_fingerprint(old_manifest) == config_fingerprint(config)
    assert config_identity(get_config("glyphs", hypergraph="global"))["hypergraph"] == "global"


def test_resuming_a_per_gpu_run_on_another_number_of_processes_is_refused(tmp_path):
    from histlib.training.loop import _check_resumable

    config = small_config(tmp_path, epochs=1)

    with pytest.raises(RunFolderError, match="trained on 1 with hypergraph='per_gpu'"):
        _check_resumable({"world_size": 1}, config, 2)
    _check_resumable({"world_size": 1}, get_config("glyphs", hypergraph="global"), 2)


def test_global_batchnorm_is_batchnorm_in_one_process():
    torch.manual_seed(0)
    plain = torch.nn.BatchNorm2d(4)
    converted = distributed.convert_batchnorm(torch.nn.Sequential(copy.deepcopy(plain)))[0]
    x = torch.randn(6, 4, 3, 3)
    assert type(converted).__name__ == "GlobalBatchNorm"
    assert torch.equal(converted(x), plain(x))
    assert torch.equal(converted.running_var, plain.running_var)


if __name__ == "__main__":  # torchrun -m tests.training.test_distributed: the CLI, rank 1 failing on request
    epoch, step, how = os.environ["HISTLIB_TEST_FAIL"].split(",")
    if int(os.environ["RANK"]) == 1:
        _fail_mid_epoch(int(epoch), int(step), how)
    from histlib.training.cli import main

    sys.exit(main())
