"""Command line: ``python -m histlib.train --config cub [--set KEY=VALUE ...] [--resume]``.

Examples:
    python -m histlib.train --config glyphs                       # CPU small mode, offline data
    python -m histlib.train --config cub --set data_root=/data    # the published CUB recipe
    python -m histlib.train --config cub --set loss=proxy_anchor output_dir=runs/cub-pa
    python -m histlib.train --config cub --resume                 # continue an interrupted run
"""

from __future__ import annotations

import argparse
import json
import sys

from .data.errors import DatasetError
from .evaluation import format_recall_table
from .models import PretrainedWeightsError
from .training import RECIPES, fit, get_config, parse_overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m histlib.train", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--config", required=True, choices=sorted(RECIPES), help="the recipe to start from")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override any TrainConfig field, e.g. epochs=2 selection=last")
    parser.add_argument("--resume", action="store_true", help="continue from output_dir/checkpoint.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        config = get_config(args.config, **parse_overrides(args.set))
    except (KeyError, ValueError) as error:
        parser.error(str(error.args[0] if isinstance(error, KeyError) else error))
    print(json.dumps(config.to_dict(), indent=1), file=sys.stderr)
    try:
        result = fit(config, resume=args.resume, progress=not args.no_progress)
    except (DatasetError, PretrainedWeightsError, ValueError) as error:
        print(f"python -m histlib.train: {error}", file=sys.stderr)
        return 1
    label = f"{config.loss} ({config.selection} selection, epoch {result.selected_epoch + 1})"
    print(format_recall_table({label: result.test_metrics}, ks=config.eval_ks))
    print(f"results: {result.output_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
