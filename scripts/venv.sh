# The project's virtual environment, shared by scripts/start and .ci/run (sourced, not run).
#
#   ensure_venv   make .venv (or $AFFILIATION_CURATOR_VENV) with $PYTHON (default: python3),
#                 install requirements.txt into it unless its stamp says they are installed,
#                 and set VENV_PY to its interpreter.
#
# Works with a system Python that refuses pip outside a venv (Debian 12/13, Ubuntu 24.04:
# PEP 668) as well as a pyenv or conda Python. torch comes as the CPU build where the machine
# has no NVIDIA driver: from PyTorch's CPU wheel index where it answers, else whatever the
# configured index resolves (a local mirror, a find-links folder).
# Messages go to stderr; a problem ends the script with one line naming the path and the fix.

VENV_DIR="${AFFILIATION_CURATOR_VENV:-$PWD/.venv}"
TORCH_CPU_INDEX="${AFFILIATION_CURATOR_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
VENV_CHANGES=()  # what ensure_venv changed on the machine (.ci/run reports it)

venv_fail() { echo "error: $*" >&2; exit 1; }
venv_say() { echo "== $*" >&2; }

_venv_sudo() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# Debian/Ubuntu's system Python ships without the venv module (and pip): install python3.X-venv.
_venv_module() {
  local py="$1" ver="$2"
  "$py" -c 'import venv, ensurepip' 2>/dev/null && return 0
  if ! command -v apt-get >/dev/null; then
    venv_fail "$py has no working venv module (ensurepip is missing): install your distribution's python venv package, or set PYTHON to another Python 3.11+"
  fi
  local pkg="python${ver}-venv"
  venv_say "installing $pkg (Debian: the venv module of $py)"
  { _venv_sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive _venv_sudo apt-get install -y -qq "$pkg" >/dev/null; } \
    || { DEBIAN_FRONTEND=noninteractive _venv_sudo apt-get install -y -qq python3-venv >/dev/null && pkg=python3-venv; } \
    || venv_fail "could not install $pkg for $py: run 'sudo apt-get install $pkg' (or python3-venv), then run this again"
  VENV_CHANGES+=("installed Debian package $pkg")
  "$py" -c 'import venv, ensurepip' 2>/dev/null || venv_fail "$py still has no venv module after installing $pkg: set PYTHON to another Python 3.11+"
}

# The Python version (X.Y) that made the venv, from its pyvenv.cfg (readable even when its interpreter is gone).
_venv_made_by() {
  sed -n 's/^version\(_info\)\{0,1\} *= *\([0-9]*\.[0-9]*\).*/\2/p' "$VENV_DIR/pyvenv.cfg" 2>/dev/null | head -1
}

_torch_cpu_index_answers() {
  # A short, bounded look: an offline mirror must not wait for a timeout of minutes.
  "$1" - "$TORCH_CPU_INDEX" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=4).close()
except Exception:
    sys.exit(1)
EOF
}

ensure_venv() {
  local py="${PYTHON:-python3}" ver made_by stamp want torch_line torch_from
  command -v "$py" >/dev/null \
    || venv_fail "no Python interpreter '$py': install Python 3.11+ (Debian/Ubuntu: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3"
  ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
    || venv_fail "'$py' does not run as a Python interpreter: set PYTHON=/path/to/python3 (3.11 or newer)"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || venv_fail "$py is Python $ver; the app needs 3.11 or newer: set PYTHON=/path/to/python3.11 (or newer)"

  if [ -e "$VENV_DIR" ]; then
    made_by=$(_venv_made_by)
    if ! "$VENV_DIR/bin/python" -c '' 2>/dev/null; then
      venv_fail "$VENV_DIR was made by Python ${made_by:-?} whose interpreter is gone or broken: remove it (rm -rf '$VENV_DIR') and run this again"
    fi
    if [ -n "${PYTHON:-}" ] && [ -n "$made_by" ] && [ "$made_by" != "$ver" ]; then
      venv_fail "$VENV_DIR was made by Python $made_by, not $py (Python $ver): remove it (rm -rf '$VENV_DIR') and run this again, or leave PYTHON unset to keep using it"
    fi
    ver=$("$VENV_DIR/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  else
    _venv_module "$py" "$ver"
    mkdir -p "$(dirname "$VENV_DIR")" 2>/dev/null || true
    [ -w "$(dirname "$VENV_DIR")" ] \
      || venv_fail "cannot create $VENV_DIR: $(dirname "$VENV_DIR") is not writable; set AFFILIATION_CURATOR_VENV to a writable folder"
    venv_say "creating the virtual environment $VENV_DIR (Python $ver, $py)"
    "$py" -m venv "$VENV_DIR" || { rm -rf "$VENV_DIR"; venv_fail "could not create $VENV_DIR with $py (see above); is the disk full or read-only?"; }
    VENV_CHANGES+=("created the virtual environment $VENV_DIR")
  fi
  VENV_PY="$VENV_DIR/bin/python"

  # Reinstall only when requirements.txt, the interpreter or the torch choice changed.
  local gpu="cpu"; command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && gpu="cuda"
  want="$(sha256sum requirements.txt | cut -c1-64) $("$VENV_PY" -c 'import sys; print(sys.version.split()[0])') $gpu"
  stamp="$VENV_DIR/.requirements-stamp"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  torch_line=$(grep -E '^torch[=<>~ ]' requirements.txt | sed 's/ *#.*//' | head -1)
  torch_from="the configured package index"
  if [ "$gpu" = "cpu" ] && [ -n "$torch_line" ] && _torch_cpu_index_answers "$VENV_PY"; then
    torch_from="$TORCH_CPU_INDEX"
    venv_say "installing $torch_line, CPU build (no NVIDIA driver here), from $torch_from"
    "$VENV_PY" -m pip install -q --disable-pip-version-check --extra-index-url "$TORCH_CPU_INDEX" "$torch_line" \
      || venv_fail "pip could not install $torch_line into $VENV_DIR (see above); is the disk full? Fix it and run this again"
  fi
  venv_say "installing the Python requirements into $VENV_DIR (torch from $torch_from; the first time takes minutes)"
  "$VENV_PY" -m pip install -q --disable-pip-version-check -r requirements.txt \
    || venv_fail "pip could not install requirements.txt into $VENV_DIR (see above); is the disk full or the network down? Fix it and run this again"
  echo "$want" > "$stamp" || venv_fail "cannot write $stamp: is $VENV_DIR read-only?"
  VENV_CHANGES+=("installed requirements.txt into $VENV_DIR")
}
