#!/usr/bin/env bash
# Installs what the skills' tests need into python3, skipping the ~3 GB download when the
# pinned versions are already importable (the usual case on a reused machine).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
if "$PY" -c 'import sys, torch, transformers, peft, pytest, yaml
sys.exit(0 if (torch.__version__.split("+")[0], transformers.__version__, peft.__version__) == ("2.15.0", "5.24.0", "0.21.2") else 1)' 2>/dev/null; then
  echo "skills test deps already installed"
  exit 0
fi
start=$SECONDS
"$PY" -m pip install --quiet --root-user-action=ignore -r "$here/requirements-test.txt"
echo "skills test deps installed in $((SECONDS - start))s"
