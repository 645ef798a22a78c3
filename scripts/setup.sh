#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine with Rust: the Fashion-MNIST data set, a font for plots,
# and (for the CUDA feature's CPU-side checks) NVRTC and ptxas from NVIDIA's pip wheels. Idempotent.
set -euo pipefail
need_apt=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
[ -d /usr/share/fonts/truetype/dejavu ] || need_apt+=(fonts-dejavu-core)
# The ONNX project's own node test cases (conv, pooling, relu): the backbone path is checked on them.
[ -d /usr/share/libonnx-testdata/data/node ] || need_apt+=(libonnx-testdata)
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
