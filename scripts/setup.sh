#!/usr/bin/env bash
# Create .venv and install advland with everything it needs (idempotent, offline-friendly).
# PyTorch is installed first and pinned by name so pip takes the CPU wheel where one is
# provided locally instead of resolving a multi-GB CUDA build; on a GPU machine it takes the
# platform's default build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "torch==${ADVLAND_TORCH_VERSION:-2.13.0}"
fi
.venv/bin/python -m pip install -q -e ".[all]"
# torchattacks is the independent implementation the attack tests compare against. Its
# metadata asks for torchvision, which its attacks never import: install it alone.
.venv/bin/python -m pip install -q --no-deps "torchattacks==3.5.1"
echo "advland installed in .venv ($(.venv/bin/python -c 'import advland, torch; print("advland", advland.__version__, "torch", torch.__version__)'))"
