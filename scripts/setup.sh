#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine with Rust: the Fashion-MNIST data set, a font for plots,
# (for the CUDA feature's CPU-side checks) NVRTC and ptxas from NVIDIA's pip wheels, and a Python
# virtual environment .venv with what the Python package's tests need. Idempotent.
set -euo pipefail
need_apt=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
[ -d /usr/share/fonts/truetype/dejavu ] || need_apt+=(fonts-dejavu-core)
# The ONNX project's own node test cases (conv, pooling, relu): the backbone path is checked on them.
[ -d /usr/share/libonnx-testdata/data/node ] || need_apt+=(libonnx-testdata)
# The Python package (python/) is built and tested in .venv; Debian's python3 needs its venv module.
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if command -v python3 >/dev/null; then
  if ! python3 -c 'import importlib.util,sys; sys.exit(0 if importlib.util.find_spec("nvidia") else 1)' 2>/dev/null \
     || [ -z "$(bash "$(dirname "$0")/cuda-paths.sh" nvrtc 2>/dev/null)" ]; then
    python3 -m pip install -q --disable-pip-version-check nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-nvcc==13.0.88 2>&1 \
      | grep -v "Running pip as the 'root' user" || true
  fi
fi
# The Python package's build and test tools, in the repository's own environment (PEP 668 keeps
# pip out of Debian's system Python).
venv="$(dirname "$0")/../.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import numpy, sklearn, imblearn, maturin, pytest' 2>/dev/null \
  || "$venv/bin/python" -m pip install -q --disable-pip-version-check \
       numpy scikit-learn imbalanced-learn maturin pytest
