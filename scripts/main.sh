#!/usr/bin/env bash
# The main job: executes every notebook top to bottom in its small mode on the offline data,
# which regenerates figures/. Executed copies go to build/notebooks/ (git-ignored), so the
# committed notebooks stay small. HISTLIB_PROFILE=full selects the GPU / real-data mode.
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
mkdir -p build/notebooks figures
for notebook in "${notebooks[@]}"; do
  name="$(basename "$notebook")"
  echo "histlib: executing $name ($HISTLIB_PROFILE)"
  "$venv/bin/python" -m papermill --cwd notebooks "$notebook" "build/notebooks/$name" \
    -p profile "$HISTLIB_PROFILE" --log-level WARNING --no-progress-bar
done
echo "histlib: figures in figures/"
