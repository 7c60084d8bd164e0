# Sourced by scripts/main.sh, scripts/test.sh and scripts/lab.sh: makes sure the project's virtualenv
# exists and matches requirements.txt + pyproject.toml, creating or refreshing it if not, and that
# the Jupyter kernel the notebooks name ("histlib") runs it. Sets $venv.
# torch/torchvision come from the exact pins in requirements.txt (never an unpinned resolve).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HISTLIB_VENV:-$root/.venv}"
stamp="$venv/.histlib-env"
want="$(cat "$root/requirements.txt" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "histlib needs Python >= 3.10 as python3 (3.11 on the project machines)" >&2; exit 1; }
  echo "histlib: setting up $venv (the first time takes a few minutes) ..." >&2
  python3 -m venv "$venv"
  log="$venv/install.log"
  if ! {
    "$venv/bin/python" -m pip install --upgrade pip &&
      "$venv/bin/python" -m pip install -r "$root/requirements.txt" &&
      "$venv/bin/python" -m pip install --no-deps -e "$root"
  } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "histlib: installing the environment failed; the full log is $log" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
  echo "histlib: environment ready" >&2
fi
# The notebooks' kernel "histlib" -> this venv's python, in the venv (what papermill, nbval and
# lab.sh find first) and per user (what a JupyterLab installed elsewhere finds). Checked every time,
# not only on a rebuild, because another clone's set-up may have re-pointed the per-user copy; a
# no-op (one short python start) when both are right. Only a failure in the venv is fatal (the
# notebooks could not run); an unwritable home is reported and skipped.
"$venv/bin/python" "$root/scripts/kernel.py" register \
  || { echo "histlib: registering the Jupyter kernel failed (see above)" >&2; exit 1; }
bash "$root/scripts/ensure_debian_packages.sh" || true  # Debian fonts + Fashion-MNIST for the offline datasets; never fails
