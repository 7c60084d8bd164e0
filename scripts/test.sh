#!/usr/bin/env bash
# Every test: unit tests and doctests, then each notebook under nbval in its small mode.
# Creates the environment first if it is missing (see scripts/ensure_env.sh). Prints how long
# each stage took.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stage_start=$SECONDS
source scripts/ensure_env.sh
export HISTLIB_PROFILE=small
timings=("environment $((SECONDS - stage_start)) s")

stage_start=$SECONDS
"$venv/bin/python" -m pytest -q
timings+=("unit tests $((SECONDS - stage_start)) s")

shopt -s nullglob
notebooks=(notebooks/[0-9][0-9]_*.ipynb)
if [ ${#notebooks[@]} -gt 0 ]; then
  # nbval compares every output that is the same on any machine; outputs of training are tagged
  # nbval-ignore-output and checked by assertions with tolerances in the next cell instead.
  stage_start=$SECONDS
  # --nbval-current-env: the kernels run on this environment, whatever kernel the notebooks name.
  "$venv/bin/python" -m pytest -q -o addopts="" --nbval --nbval-current-env "${notebooks[@]}" \
    --nbval-sanitize-with notebooks/nbval_sanitize.cfg
  timings+=("notebooks (nbval) $((SECONDS - stage_start)) s")
fi
echo "histlib: $(IFS=','; echo "${timings[*]}" | sed 's/,/, /g')"
