#!/usr/bin/env bash
# The main job: executes every notebook top to bottom in its small mode on the offline data,
# which regenerates figures/. Executed copies go to build/notebooks/ (git-ignored), so the
# committed notebooks stay small. HISTLIB_PROFILE=full selects the GPU / real-data mode;
# HISTLIB_SET="KEY=VALUE ..." overrides recipe fields in every training notebook.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure_env.sh
export HISTLIB_PROFILE="${HISTLIB_PROFILE:-small}"
shopt -s nullglob
notebooks=(notebooks/[0-9][0-9]_*.ipynb)
if [ ${#notebooks[@]} -eq 0 ]; then
  echo "histlib: no notebooks yet (notebooks/NN_*.ipynb); nothing to execute"
  exit 0
fi
mkdir -p figures
rm -f figures/*.png  # every figure is regenerated below; a figure no notebook writes any more goes
"$venv/bin/python" scripts/run_notebooks.py --profile "$HISTLIB_PROFILE" --out build/notebooks \
  --overrides "${HISTLIB_SET:-}" "${notebooks[@]}"
echo "histlib: executed notebooks in build/notebooks/, figures in figures/"
