#!/usr/bin/env bash
# The oldest versions we declare: a fresh virtualenv where every `>=` lower bound in pyproject.toml (dependencies and
# extras) is installed exactly, the versions printed, then the quick test suite. pyproject.toml stays the one source
# of truth: the pins are read from it. .ci/run calls this after the main suite; alone it needs only the repository
# (FASTAI_HOME, if set, must hold CIFAR-10 under data/ as .ci/run arranges; if unset, the local copy is extracted).
#   EXTRAS   extras to install, comma-separated (default: all of them, each at its lower bounds)
#   PYTHON   interpreter for the virtualenv (default: the oldest Python that requires-python allows, found on PATH
#            or under pyenv; python3 where there is none)
#   NBS      notebooks to test, as nbdev-test's path argument (default: all of nbs/)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS

# one `pkg==lowest` line per `pkg>=lowest` in pyproject.toml, and the names of its extras
python3 - "$work" <<'EOF'
import re, sys, tomllib
p = tomllib.load(open('pyproject.toml', 'rb'))['project']
extras = p.get('optional-dependencies', {})
with open(f'{sys.argv[1]}/oldest.txt', 'w') as f:
    for r in p['dependencies'] + [r for rs in extras.values() for r in rs]:
        name,spec = re.match(r'\s*([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*([^;]*)', r).groups()
        if lo := re.search(r'>=\s*([^,\s]+)', spec): print(f'{name}=={lo[1]}', file=f)
open(f'{sys.argv[1]}/extras.txt', 'w').write(','.join(extras))
EOF
echo "oldest declared versions: $(tr '\n' ' ' < "$work/oldest.txt")"

# the oldest Python we declare, where this machine has it
py=$(python3 -c "import re, tomllib
print(re.search(r'>=\s*([0-9.]+)', tomllib.load(open('pyproject.toml', 'rb'))['project']['requires-python'])[1])")
if [ -z "${PYTHON:-}" ]; then
  for c in "python$py" "$(pyenv root 2>/dev/null)/versions/$py".*/bin/python; do
    if "$c" -c '' 2>/dev/null; then PYTHON=$c; break; fi
  done
  [ -n "${PYTHON:-}" ] || { echo "Python $py (requires-python) not found: using python3"; PYTHON=python3; }
fi
"$PYTHON" -m venv "$work/venv"
. "$work/venv/bin/activate"
python -m pip install -q --upgrade pip
pip install -q --constraint "$work/oldest.txt" -e ".[${EXTRAS:-$(cat "$work/extras.txt")}]"
echo "oldest-versions install: $((SECONDS-start)) s"

# what was installed, and a check that each declared package really is at its lower bound
python - "$work/oldest.txt" <<'EOF'
import sys, importlib.metadata as md
def v(p):
    try: return md.version(p)
    except md.PackageNotFoundError: return None
print(f'python {sys.version.split()[0]} |', ' | '.join(f'{p} {v(p)}' for p in ('torch', 'torchvision', 'fastai',
      'fastcore', 'numpy', 'matplotlib', 'grad-cam', 'accelerate', 'pandas', 'nbdev', 'gradio')))
pins = dict(l.strip().split('==') for l in open(sys.argv[1]) if l.strip())
off = {p: (lo, v(p)) for p,lo in pins.items() if v(p) is not None and v(p).split('+')[0] != lo}
if off: sys.exit(f'not at the declared lower bound (wanted, installed): {off}')
EOF

if [ -z "${FASTAI_HOME:-}" ]; then
  export FASTAI_HOME="$work/fastai"
  mkdir -p "$FASTAI_HOME/data"
  tar xzf ../shared/data/cifar10-jpeg.tgz -C "$FASTAI_HOME/data"
fi
export OMP_NUM_THREADS=1 RESNET_EVA_SIZE=quick
t=$SECONDS
rc=0; nbdev-test ${NBS:-} || rc=$?
outcome=$([ $rc = 0 ] && echo passed || echo FAILED)
echo "oldest versions: nbdev-test $outcome in $((SECONDS-t)) s ($((SECONDS-start)) s with the install)"
exit $rc
