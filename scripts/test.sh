#!/usr/bin/env bash
# Every test: unit tests and doctests, then each notebook under nbval in its small mode.
# Creates the environment first if it is missing (see scripts/ensure_env.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure_env.sh
export HISTLIB_PROFILE=small
"$venv/bin/python" -m pytest -q
shopt -s nullglob
notebooks=(notebooks/[0-9][0-9]_*.ipynb)
if [ ${#notebooks[@]} -gt 0 ]; then
  "$venv/bin/python" -m pytest -q -o addopts="" --nbval "${notebooks[@]}" \
    --nbval-sanitize-with notebooks/nbval_sanitize.cfg
fi
