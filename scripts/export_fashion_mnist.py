"""Fashion-MNIST (Debian's dataset-fashion-mnist package) exported as your own data would be: one folder
of PNG images per class and an images.csv of path,label beside them.

    .venv/bin/python scripts/export_fashion_mnist.py data/own/fashion-mnist --per-class 100
    .venv/bin/python -m histlib.data.own folder:data/own/fashion-mnist       # the report before training
    .venv/bin/python -m histlib.train --config glyphs --data folder:data/own/fashion-mnist
"""

import argparse
import sys

from histlib.data.errors import DatasetError
from histlib.data.fashion_mnist import export_folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the folder to write (empty, or an earlier export)")
    parser.add_argument("--per-class", type=int, default=100, help="images per class (default 100)")
    parser.add_argument("--root", default="data", help="where else to look for the IDX files (default data/)")
    args = parser.parse_args(argv)
    try:
        out = export_folder(args.out, args.per_class, args.root)
    except (DatasetError, FileExistsError) as error:
        print(f"export_fashion_mnist: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out}: 10 class folders of {args.per_class} images and {out / 'images.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
