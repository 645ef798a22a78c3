#!/usr/bin/env bash
# Builds the CUDA test binaries here (release, `--features cudnn`, which includes `cuda`) and puts them, stripped, in
# gpu-bundle/ with a manifest and a PTX cache of every kernel family, for scripts/gpu-check.sh on a
# lent GPU machine, which has no Rust (and maybe no NVRTC: the cached PTX then suffices).
# Usage: bash scripts/gpu-prepare.sh [test-name ...]   (default: gpu_equivalence gpu_phase2 gpu_backbone kernels_compile)
# Also builds the benchmarks of issue 5 (benches/gpu.rs, peer.rs, iteration.rs, ops.rs; GPU_BENCH=0
# leaves them out) and the gradient oracle test tests/torch_peer.rs, with the arguments
# gpu-check.sh runs them with in the manifest's third column (short criterion times, CUDA groups
# only, so that the whole check stays under its 8 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(gpu_equivalence gpu_phase2 gpu_backbone kernels_compile)
out=gpu-bundle
rm -rf "$out"
mkdir -p "$out/bin" "$out/ptx"

args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
# Cargo's JSON messages on stdin → "name path" of each executable of target kind $1 (test or
# bench); python3 parses them (jq may be missing).
executables() {
  python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == [sys.argv[1]]:
        print(m["target"]["name"], m["executable"])
' "$1"
}
cargo test --release --features cudnn --no-run --message-format=json "${args[@]}" \
  | executables test > "$out/found.txt"

: > "$out/manifest.txt"
while read -r name exe; do
  cp "$exe" "$out/bin/$name"
  # Symbols and line tables are not needed there, and the carried tree is size-limited.
  strip --strip-all "$out/bin/$name" 2>/dev/null || true
  printf '%s\tbin/%s\n' "$name" "$name" >> "$out/manifest.txt"
done < "$out/found.txt"
rm "$out/found.txt"
# The gradient oracle (CPU, needs torch, which the GPU machine has) and the benchmarks, each with
# the arguments gpu-check.sh passes (a third, tab-separated column).
if [ "${GPU_BENCH:-1}" != 0 ]; then
  cargo test --release --features cudnn --no-run --message-format=json --test torch_peer \
    | executables test > "$out/found.txt"
  cargo bench --features cudnn --no-run --message-format=json \
      --bench gpu --bench peer --bench iteration --bench ops \
    | executables bench >> "$out/found.txt"
  # Criterion: short warm-up and measurement, CUDA groups only (the CPU figures come from the
  # 2-core development machine, see BENCHMARKS.md).
  crit="--bench --warm-up-time 0.3 --measurement-time 0.7 --sample-size 10"
  # Cheapest and most wanted first, in case the time budget runs out.
  for name in torch_peer gpu peer iteration ops; do
    exe=$(awk -v n="$name" '$1 == n { print $2; exit }' "$out/found.txt")
    [ -n "$exe" ] || { echo "gpu-prepare: $name was not built" >&2; continue; }
    case $name in
      torch_peer) args="--nocapture" ;;
      gpu|peer) args="--bench" ;;
      iteration) args="$crit iter/cuda" ;;
      ops) args="$crit ops/cuda" ;;
    esac
    cp "$exe" "$out/bin/$name"
    strip --strip-all "$out/bin/$name" 2>/dev/null || true
    printf '%s\tbin/%s\t%s\n' "$name" "$name" "$args" >> "$out/manifest.txt"
  done
  rm "$out/found.txt"
fi
# The ONNX node test cases gpu_backbone checks cuDNN on (the GPU machine has no Debian package).
node=/usr/share/libonnx-testdata/data/node
if [ -d "$node" ]; then
  mkdir -p "$out/onnx-node"
  for d in "$node"/test_{basic_conv,conv_with,maxpool_2d,averagepool_2d,relu,globalaveragepool,batchnorm}*; do
    [ -d "$d" ] && cp -r "$d" "$out/onnx-node/"
  done
fi
[ -s "$out/manifest.txt" ] || { echo "gpu-prepare: no test executables found" >&2; exit 1; }

# PTX for the usual architectures, so the device needs no libnvrtc.
nvrtc_dir=$(bash scripts/cuda-paths.sh nvrtc)
if [ -n "$nvrtc_dir" ]; then
  LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" CONVEXGAN_PTX_CACHE="$PWD/$out/ptx" \
    "$out/bin/kernels_compile" --ignored --exact populate_ptx_cache --quiet >/dev/null \
    || echo "gpu-prepare: PTX cache not filled (kernels_compile missing or NVRTC failed)" >&2
else
  echo "gpu-prepare: no NVRTC here; the device must compile the kernels itself" >&2
fi

# Every binary links tract, so together they pass the 64 MiB a device call may carry; they travel
# compressed and gpu-check.sh unpacks them.
tar -cf - -C "$out" bin | gzip -9 > "$out/bin.tar.gz"
rm -rf "$out/bin"
echo "gpu-bundle/manifest.txt:"
cat "$out/manifest.txt"
du -sh "$out"
