#!/usr/bin/env bash
# Runs the CUDA test binaries carried in gpu-bundle/ (made by scripts/gpu-prepare.sh) on a GPU
# machine that has no Rust. Finds libcuda, libnvrtc and libcublas, runs each binary under one total
# time limit (default 8 minutes, GPU_CHECK_BUDGET_S to change), and prints a table at the end.
# Logs go to $OUT/gpu-check/ when $OUT is set. Exit status 0 only if every binary passed.
# Usage: bash scripts/gpu-check.sh [bundle-dir]
# From a session with a lent device: build here with `bash scripts/gpu-prepare.sh`, then run
# `bash scripts/gpu-check.sh` there with carry ["gpu-bundle"] (gpu-bundle/ is git-ignored) and a
# timeout above the 8-minute budget.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bundle=${1:-gpu-bundle}
budget=${GPU_CHECK_BUDGET_S:-480}
start=$(date +%s)
deadline=$((start + budget))
logs=${OUT:-/tmp}/gpu-check
mkdir -p "$logs"

[ -f "$bundle/manifest.txt" ] || { echo "gpu-check: $bundle/manifest.txt missing; run scripts/gpu-prepare.sh first" >&2; exit 2; }
# The binaries travel compressed (gpu-prepare.sh); unpack them beside the logs.
bins=$bundle
if [ -f "$bundle/bin.tar.gz" ]; then
  bins=$logs/bundle
  mkdir -p "$bins"
  tar -xzf "$bundle/bin.tar.gz" -C "$bins" || { echo "gpu-check: cannot unpack $bundle/bin.tar.gz" >&2; exit 2; }
fi

# Directories where the three libraries may live: CUDA toolkits, the distribution's library
# directories, and NVIDIA's pip wheels of every Python found.
candidate_dirs() {
  local d py sp
  for d in /usr/local/cuda*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu \
           /usr/lib64 /usr/lib/wsl/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib /opt/conda/lib; do
    [ -d "$d" ] && echo "$d"
  done
  for py in python3 /usr/bin/python3 /opt/conda/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    for sp in $("$py" -c 'import site, sysconfig; print(" ".join(set(site.getsitepackages() + [site.getusersitepackages(), sysconfig.get_paths()["purelib"]])))' 2>/dev/null); do
      for d in "$sp"/nvidia/*/lib; do [ -d "$d" ] && echo "$d"; done
    done
  done
  for d in /usr/local/lib/python3*/dist-packages/nvidia/*/lib /usr/lib/python3/dist-packages/nvidia/*/lib; do
    [ -d "$d" ] && echo "$d"
  done
}
dirs=$(candidate_dirs | awk '!seen[$0]++')

found_any() { # lib-stem -> first directory holding lib<stem>.so*
  local d f
  for d in $dirs; do
    for f in "$d"/lib"$1".so*; do [ -e "$f" ] && { echo "$d"; return 0; }; done
  done
  return 1
}

ld=""
for lib in cuda nvrtc cublas cudnn; do
  if d=$(found_any "$lib"); then
    echo "lib$lib: $d"
    case ":$ld:" in *":$d:"*) ;; *) ld="$ld${ld:+:}$d" ;; esac
  else
    echo "lib$lib: not found"
  fi
done
export LD_LIBRARY_PATH="$ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CONVEXGAN_REPO="$repo"
[ -d "$bundle/onnx-node" ] && export CONVEXGAN_ONNX_NODE_DATA="$PWD/$bundle/onnx-node"
# A writable copy of the carried PTX cache; new compilations land there too.
export CONVEXGAN_PTX_CACHE="$logs/ptx-cache"
mkdir -p "$CONVEXGAN_PTX_CACHE"
cp "$bundle"/ptx/*.ptx "$CONVEXGAN_PTX_CACHE"/ 2>/dev/null || true
for p in /usr/local/cuda*/bin/ptxas $(for d in $dirs; do echo "$d/../bin/ptxas"; done); do
  [ -x "$p" ] && { export CONVEXGAN_PTXAS="$p"; echo "ptxas: $p"; break; }
done
command -v nvidia-smi >/dev/null 2>&1 \
  && nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader
# There is a GPU here, so the equivalence tests must not skip.
[ -e /dev/nvidia0 ] && export CONVEXGAN_REQUIRE_GPU=1
# Benchmarks (issue 5): the CUDA backend only (CPU figures come from the 2-core machine), the
# PyTorch peer 2 measured seconds per side and mode; the gradient oracle must not skip where
# torch is.
export CONVEXGAN_BENCH_BACKENDS=${CONVEXGAN_BENCH_BACKENDS:-cuda}
export CONVEXGAN_PEER_SECONDS=${CONVEXGAN_PEER_SECONDS:-2}
python3 -c 'import torch' 2>/dev/null && export CONVEXGAN_REQUIRE_TORCH=1

rows=()
status=0
while IFS=$'\t' read -r name path args; do
  [ -n "$name" ] || continue
  now=$(date +%s)
  left=$((deadline - now))
  if [ "$left" -le 5 ]; then
    rows+=("$name|not run (time)|-|-|-|-")
    status=1
    continue
  fi
  log="$logs/$name.log"
  t0=$(date +%s)
  # The third manifest column holds a benchmark's arguments; test binaries get --nocapture.
  # shellcheck disable=SC2086
  timeout --kill-after=5 "$left" "$bins/$path" ${args:---nocapture} >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  res=$(grep -E '^test result:' "$log" | tail -1)
  passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$res")
  failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$res")
  skipped=$(grep -c '^skipped:' "$log")
  case $rc in
    0) verdict=ok ;;
    124|137) verdict="timed out"; status=1 ;;
    *) verdict="FAILED (rc $rc)"; status=1 ;;
  esac
  rows+=("$name|$verdict|${passed:--}|${failed:--}|$skipped|${secs}s")
  # The failures and skip reasons, so the table's reader need not open the log.
  echo "== $name: $verdict"
  grep -E '^skipped:' "$log" | sort | uniq -c | head -5
  grep -A4 -E 'panicked at' "$log" | head -60
  # A benchmark's tables (Markdown rows) and device line, for BENCHMARKS.md.
  case $name in gpu|peer) grep -E '^(\||device)' "$log" ;; esac
  case $name in torch_peer) grep -E 'worst relative error' "$log" ;; esac
done < "$bundle/manifest.txt"

echo
printf '%-18s %-16s %7s %7s %8s %7s\n' binary result passed failed skipped time
for r in "${rows[@]}"; do
  IFS='|' read -r a b c d e f <<<"$r"
  printf '%-18s %-16s %7s %7s %8s %7s\n' "$a" "$b" "$c" "$d" "$e" "$f"
done
echo "total $(( $(date +%s) - start ))s of ${budget}s; logs in $logs"
exit $status
