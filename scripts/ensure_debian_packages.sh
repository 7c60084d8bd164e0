#!/usr/bin/env bash
# Installs the Debian packages of histlib/data/debian-packages.txt that are missing: the fonts the
# offline datasets (glyphs, typefaces, kanji) are rendered from and Fashion-MNIST. Run by scripts/ensure_env.sh (so by
# scripts/main.sh and scripts/test.sh); safe to run by hand. It never fails its caller: where
# apt-get (or root / passwordless sudo) is not available it prints what to install and returns 0.
# HISTLIB_SKIP_DEBIAN=1 skips it.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
list="$root/histlib/data/debian-packages.txt"

[ "${HISTLIB_SKIP_DEBIAN:-0}" = "1" ] && exit 0
[ -r "$list" ] || { echo "histlib: $list is missing; offline datasets may be unavailable" >&2; exit 0; }

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')

explain() {  # $1: why apt-get cannot be used; $@: the missing packages
  local why="$1"
  shift
  {
    echo "histlib: the offline datasets need these Debian packages, and $why:"
    echo "  $*"
    echo "histlib: install them with: sudo apt-get install --no-install-recommends $*"
    echo "histlib: elsewhere, glyphs, typefaces and kanji render the TrueType/OpenType fonts found in the"
    echo "         usual font folders, and fashion-mnist reads the IDX files from data/fashion-mnist/"
    echo "         (see data/README.md)"
  } >&2
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  explain "this is not a Debian-based system (no dpkg-query)" "${wanted[@]}"
  exit 0
fi

declare -A installed=()
while read -r package status; do
  [ "$status" = "installed" ] && installed["$package"]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${wanted[@]}" 2>/dev/null)
missing=()
for package in "${wanted[@]}"; do
  [ -n "${installed[$package]:-}" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  explain "apt-get is not available" "${missing[@]}"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  explain "installing needs root (or passwordless sudo)" "${missing[@]}"
  exit 0
fi

echo "histlib: installing ${#missing[@]} Debian package(s) for the offline datasets ..." >&2
log="$(mktemp -t histlib-apt.XXXXXX)"
if "${sudo[@]}" apt-get update -qq >"$log" 2>&1 &&
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
  echo "histlib: Debian packages installed" >&2
  rm -f "$log"
else
  tail -n 20 "$log" >&2
  explain "apt-get failed (log: $log)" "${missing[@]}"
fi
exit 0
