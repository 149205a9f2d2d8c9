#!/usr/bin/env bash
# Install uv into ~/.local/bin (where the Makefile looks for it) from PyPI, with the machine's
# Python: `make setup` runs this when uv is neither on PATH nor in ~/.local/bin.
#
# PYTHON (python3) chooses the interpreter. Debian's own python3 is "externally managed"
# (PEP 668) and may come without pip: pip is then installed from Debian's packages (as root),
# and uv, a standalone binary that changes no system package, is installed with
# --break-system-packages.
set -euo pipefail
python=${PYTHON:-python3}
say() { printf 'install-uv: %s\n' "$*" >&2; }

command -v "$python" >/dev/null || { say "needs $python (Python >= 3.11)"; exit 1; }
if ! "$python" -m pip --version >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "$python has no pip: installing Debian's python3-pip"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  else
    say "$python has no pip: install python3-pip (or uv: https://docs.astral.sh/uv/), then retry"
    exit 1
  fi
fi
args=(install --user --quiet uv)
managed='import pathlib, sys, sysconfig
sys.exit(0 if (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists() else 1)'
if "$python" -c "$managed"; then args+=(--break-system-packages); fi
"$python" -m pip "${args[@]}"
user_bin=$("$python" -c 'import site; print(site.getuserbase())')/bin
say "uv installed: $user_bin/uv"
