#!/usr/bin/env bash
# The test command: every test, without and with the GPU features (`cudnn`, which includes `cuda`),
# then the Python package built into .venv (scripts/setup.sh makes it) and its pytest suite. With no
# GPU, the CUDA tests compile the kernels with NVRTC, assemble them with ptxas and run them on the
# host; the tests that need a device print that they were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
nvrtc_dir=$(bash scripts/cuda-paths.sh nvrtc)
ptxas=$(bash scripts/cuda-paths.sh ptxas)
if [ -n "$nvrtc_dir" ]; then
  export LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # The wheel is there, so the NVRTC compile tests must run rather than skip.
  export CONVEXGAN_REQUIRE_NVRTC=1
fi
[ -n "$ptxas" ] && export CONVEXGAN_PTXAS="$ptxas"
cargo test --release
cargo test --release --features cuda,cudnn
# The Python package, as the README installs it, and its tests (the README's example among them).
venv=.venv/bin/python
[ -x "$venv" ] || { echo "error: .venv is missing; run bash scripts/setup.sh first" >&2; exit 1; }
"$venv" -m pip install -q --disable-pip-version-check --no-build-isolation ./python
"$venv" -m pytest -q python/tests
