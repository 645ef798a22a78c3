#!/usr/bin/env bash
# Builds here (release, `--features cudnn`, which includes `cuda`) everything scripts/gpu-check.sh
# runs on a lent GPU machine, which has no Rust (and maybe no NVRTC: the cached PTX then
# suffices), and puts it in gpu-bundle/ (git-ignored):
#   bin.tar.xz    the stripped binaries, xz -9 (every one links tract; the carried tree is
#                 limited to 64 MiB): bin/convexgan (`gpu-info` for the diagnostics, later `run
#                 --device cuda`), the test binaries bin/tests/{ops,pipeline,data} (the steps
#                 gpu_equivalence, gpu_phase2 and gpu_backbone run them with the filters gpu::,
#                 gpu_phase2:: with sampler::cuda_, and gpu_backbone::) and the benches
#                 bin/benches/{gpu,iteration,ops,peer} (a test and a bench are both named ops,
#                 hence the two directories)
#   manifest.txt  the steps gpu-check.sh runs, in that order, one a line, tab-separated:
#                 name, kind (info | test | bench | criterion), cap in seconds, path in the
#                 archive, environment (VAR=value words, or -), arguments (or -). Edit it by hand to
#                 change a cap or an argument; no rebuild needed.
#   ptx/          every kernel family as PTX (compute_80/86/89/90) and cubin (sm_80/86/89/90), from NVRTC here
#   onnx-node/    the ONNX node test cases gpu_backbone checks cuDNN on
# Usage: bash scripts/gpu-prepare.sh      (GPU_BENCH=0 leaves the benches out)
# Then the device check (BENCHMARKS.md, "The device check"): `bash scripts/gpu-check.sh` on the
# device with carry ["gpu-bundle"]; scripts/gpu-dry-run.sh runs it here, without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
out=gpu-bundle
rm -rf "$out"
mkdir -p "$out/bin" "$out/ptx"
# The test binary ops also fills the PTX cache here (its ignored kernels::populate_ptx_cache).
tests=(ops pipeline data)
benches=(gpu iteration ops peer)
[ "${GPU_BENCH:-1}" != 0 ] || benches=()

# Cargo's JSON messages on stdin → "kind name path" of each executable of target kind $1 (test,
# bench or bin); python3 parses them (jq may be missing).
executables() {
  python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == [sys.argv[1]]:
        print(sys.argv[1], m["target"]["name"], m["executable"])
' "$1"
}
found=$(mktemp)
trap 'rm -f "$found"' EXIT
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
cargo test --release --features cudnn --no-run --message-format=json "${args[@]}" \
  | executables test > "$found"
if [ ${#benches[@]} -gt 0 ]; then
  args=()
  for b in "${benches[@]}"; do args+=(--bench "$b"); done
  cargo bench --features cudnn --no-run --message-format=json "${args[@]}" \
    | executables bench >> "$found"
fi
cargo build --release --features cudnn --bin convexgan --message-format=json \
  | executables bin >> "$found"

# The steps, most wanted first, each with its cap (seconds; gpu-check.sh also keeps an overall
# limit). Sum of the caps: 340 s, so that the whole check stays under 6 minutes and a fix and a
# rerun fit in one 15-minute lease. Sizes run paper first (the goals are stated there).
# Criterion: short warm-up and measurement, CUDA groups only (the CPU figures come from the
# 2-core development machine, see BENCHMARKS.md); ops has ~35 ops × 2 sizes, hence its shorter
# times.
sizes=CONVEXGAN_BENCH_SIZES=paper,fmnist
crit="--bench --noplot --nresamples 10000 --warm-up-time 0.3 --measurement-time 0.7 --sample-size 10"
crit_ops="--bench --noplot --nresamples 10000 --warm-up-time 0.1 --measurement-time 0.25 --sample-size 10"
steps=(
  "diagnostics|info|25|convexgan|-|gpu-info"
  "gpu_equivalence|test|60|ops|-|gpu:: --nocapture"
  "gpu_phase2|test|30|pipeline|-|gpu_phase2:: sampler::cuda_ --nocapture"
  "gpu|bench|50|gpu|$sizes|--bench"
  "gpu_backbone|test|40|data|-|gpu_backbone:: --nocapture"
  "iteration|criterion|25|iteration|$sizes|$crit iter/cuda"
  "ops|criterion|40|ops|$sizes|$crit_ops ops/cuda"
  "peer|bench|70|peer|$sizes CONVEXGAN_PEER_SECONDS=2|--bench"
)
printf '# name\tkind\tcap_s\tpath\tenv\targs   (written by scripts/gpu-prepare.sh, read by scripts/gpu-check.sh)\n' \
  > "$out/manifest.txt"
missing=0
for s in "${steps[@]}"; do
  IFS='|' read -r name kind cap exe env sargs <<<"$s"
  case $kind in
    test) tkind=test; dest=bin/tests/$exe ;;
    bench|criterion) tkind=bench; dest=bin/benches/$exe ;;
    *) tkind=bin; dest=bin/$exe ;;
  esac
  path=$(awk -v k="$tkind" -v n="$exe" '$1 == k && $2 == n { p = $3 } END { print p }' "$found")
  if [ -z "$path" ]; then
    # GPU_BENCH=0: the benches were not built, and their steps are left out.
    case $kind in bench|criterion) [ ${#benches[@]} -gt 0 ] || continue ;; esac
    echo "gpu-prepare: $exe was not built" >&2
    missing=1
    continue
  fi
  mkdir -p "$out/$(dirname "$dest")"
  cp "$path" "$out/$dest"
  # Symbols and line tables are not needed there, and the carried tree is size-limited.
  strip --strip-all "$out/$dest" 2>/dev/null || true
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$cap" "$dest" "$env" "$sargs" >> "$out/manifest.txt"
done
[ "$missing" = 0 ] || { echo "gpu-prepare: some binaries were not built" >&2; exit 1; }

# The ONNX node test cases gpu_backbone checks cuDNN on (the GPU machine has no Debian package).
node=/usr/share/libonnx-testdata/data/node
if [ -d "$node" ]; then
  mkdir -p "$out/onnx-node"
  for d in "$node"/test_{basic_conv,conv_with,maxpool_2d,averagepool_2d,relu,globalaveragepool,batchnorm}*; do
    [ -d "$d" ] && cp -r "$d" "$out/onnx-node/"
  done
else
  echo "gpu-prepare: no $node here; gpu_backbone will skip its node cases there" >&2
fi

# PTX for the usual architectures, so the device needs no libnvrtc.
ops=$(awk '$1 == "test" && $2 == "ops" { p = $3 } END { print p }' "$found")
nvrtc_dir=$(bash scripts/cuda-paths.sh nvrtc)
if [ -n "$nvrtc_dir" ] && [ -n "$ops" ]; then
  LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" CONVEXGAN_PTX_CACHE="$PWD/$out/ptx" \
    "$ops" --ignored --exact kernels::populate_ptx_cache --quiet >/dev/null \
    || echo "gpu-prepare: PTX cache not filled (NVRTC failed)" >&2
else
  echo "gpu-prepare: no NVRTC here (or the ops test binary missing); the device must compile the kernels itself" >&2
fi

# The binaries travel compressed with xz (every one links tract: gzip -9 left 60 MB, xz about two
# thirds of that); gpu-check.sh unpacks them outside the carried tree, with xz where the device has
# it and with Python's lzma module (the device's python3 is certain) where it does not.
if command -v xz >/dev/null; then
  tar -cf - -C "$out" bin | xz -9 -T0 > "$out/bin.tar.xz"
else
  python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1], "w:xz", preset=9); t.add(sys.argv[2], arcname="bin"); t.close()' \
    "$out/bin.tar.xz" "$out/bin"
fi
rm -rf "$out/bin"
echo "gpu-bundle/manifest.txt:"
cat "$out/manifest.txt"
ls -l "$out/bin.tar.xz"
echo "kernel cache: $(find "$out/ptx" -name '*.ptx' | wc -l) PTX, $(find "$out/ptx" -name '*.cubin' | wc -l) cubin"
bytes=$(du -sb "$out" | cut -f1)
mib=$(( (bytes + 1048575) / 1048576 ))
echo "gpu-bundle: $bytes bytes (${mib} MiB) of the 64 MiB a device call may carry"
if [ "$bytes" -gt $((60 * 1048576)) ]; then
  echo "gpu-prepare: gpu-bundle is over 60 MiB; the carried tree (repo + bundle) must stay under 64 MiB" >&2
  exit 1
fi
