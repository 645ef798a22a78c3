#!/usr/bin/env bash
# Prints where NVIDIA's pip wheels put libnvrtc (`nvrtc`) or ptxas (`ptxas`), or nothing.
set -u
sp=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null) || exit 0
case "${1:-}" in
  nvrtc) for d in "$sp"/nvidia/cu13/lib "$sp"/nvidia/cuda_nvrtc/lib; do
           [ -e "$d/libnvrtc.so.13" ] && { echo "$d"; exit 0; }; done ;;
  ptxas) for f in "$sp"/nvidia/cu13/bin/ptxas "$sp"/nvidia/cuda_nvcc/bin/ptxas; do
           [ -x "$f" ] && { echo "$f"; exit 0; }; done ;;
esac
exit 0
