"""Command line: ``python -m histlib.train --config cub [--set KEY=VALUE ...] [--resume]``.

Examples:
    python -m histlib.train --config glyphs                       # CPU small mode, offline data
    python -m histlib.train --config cub --set data_root=/data    # the published CUB recipe
    python -m histlib.train --config cub --set loss=proxy_anchor output_dir=runs/cub-pa
    python -m histlib.train --config cub --resume                 # continue an interrupted run
    python -m histlib.train --config glyphs --overwrite           # replace the run in output_dir
    python -m histlib.train --config glyphs --data folder:~/photos  # your images, one subfolder per class
    python -m histlib.train --config glyphs --data csv:~/photos/images.csv  # path,label[,split][,is_query,is_gallery]
    torchrun --standalone --nproc_per_node 4 -m histlib.train --config sop --set batch_size=256 hypergraph=global

A run folder that holds a run is never overwritten silently: --resume continues the run of the
same config, --overwrite replaces it; a folder another process trains into is refused.

Under torchrun (K processes: NCCL on CUDA, one GPU each; gloo on the CPU) batch_size is the global
batch, hypergraph=per_gpu|global chooses one hypergraph per process or one over the global batch,
rank 0 alone writes the run folder and prints, and --resume works the same way.
HISTLIB_DIST_TIMEOUT_S (default 600) bounds how long a rank waits for the others.
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import distributed
from ..data.errors import DatasetError
from ..data.own import data_settings
from ..evaluation import format_recall_table
from ..models import PretrainedWeightsError
from .config import RECIPES, get_config, parse_overrides
from .loop import fit
from .runs import RunFolderError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m histlib.train", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--config", required=True, choices=sorted(RECIPES), help="the recipe to start from")
    parser.add_argument("--set", nargs="*", default=[], action="extend", metavar="KEY=VALUE",
                        help="override any TrainConfig field, e.g. epochs=2 selection=last")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--resume", action="store_true", help="continue the interrupted run in output_dir")
    what.add_argument("--overwrite", action="store_true", help="replace the run in output_dir (files histlib did not write there are kept)")
    parser.add_argument("--data", metavar="KIND:PATH",
                        help="your own images: folder:PATH (one subfolder per class) or csv:PATH "
                             "(python -m histlib.data.own KIND:PATH checks them first)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.set)
        if args.data is not None:  # --set may change the data's defaults (output_dir, the cap), not the data
            clash = sorted({"dataset", "data_root"} & set(overrides))
            if clash:
                raise ValueError(f"--data names the dataset and its root; drop {', '.join(clash)} from --set")
            overrides = {**data_settings(args.data, "runs", args.config), **overrides}
        config = get_config(args.config, **overrides)
    except (KeyError, ValueError) as error:
        parser.error(str(error.args[0] if isinstance(error, KeyError) else error))
    if distributed.launched_by_torchrun():
        try:
            distributed.init_from_env(config.device)
        except ValueError as error:
            print(f"python -m histlib.train: {error}", file=sys.stderr)
            return 1
    main_rank = distributed.is_main()
    where = f" (rank {distributed.rank()} of {distributed.world_size()})" if distributed.is_distributed() else ""
    if main_rank:
        print(json.dumps(config.to_dict(), indent=1), file=sys.stderr)
    try:
        result = fit(config, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
        distributed.shutdown()
    except (DatasetError, PretrainedWeightsError, RunFolderError, ValueError, FloatingPointError,
            distributed.RankFailedError) as error:
        if main_rank or not distributed.reported_by_main(error):
            print(f"python -m histlib.train{where}: {error}", file=sys.stderr)
        return 1
    if not main_rank:
        return 0
    label = f"{config.loss} ({config.selection} selection, epoch {result.selected_epoch + 1})"
    print(format_recall_table({label: result.test_metrics}, ks=config.eval_ks))
    print(f"results: {result.output_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
