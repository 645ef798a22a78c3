#!/usr/bin/env bash
# The device check: runs the steps of gpu-bundle/manifest.txt (made here by
# scripts/gpu-prepare.sh) on a GPU machine that has no Rust, and hands back exactly two files:
#   $OUT/summary.txt   one line per step: name, pass | fail | skip | time-out, seconds, headline
#   $OUT/logs.tar.gz   every log (each step's output, the libraries found, nvidia-smi, the
#                      criterion tables, this script's own output)
# Nothing else is written under $OUT: the binaries are unpacked, and the PTX cache and criterion's
# files are kept, in a temporary directory. $OUT unset (run by hand): ./gpu-check-out.
# Steps run in the manifest's order (diagnostics, gpu_equivalence, gpu_phase2, gpu, gpu_backbone,
# iteration, ops, peer; gpu_equivalence is the op-test binary bin/tests/ops filtered to its `gpu::`
# sections, ops the criterion bench bin/benches/ops), each under its own cap (the manifest's third column; edit it there, no
# rebuild needed) and all under an overall limit (GPU_CHECK_BUDGET_S, default 350 s): a failure
# or a hang never stops the steps after it. Where a GPU is present (/dev/nvidia0, or nvidia-smi
# lists one) CONVEXGAN_REQUIRE_GPU=1 is set, so a device that does not open fails instead of
# skipping; without one every step reads "skip" with "no device".
# Exit status 0 when no step failed or timed out.
# Usage: bash scripts/gpu-check.sh [bundle-dir]
# From a session with a lent device (BENCHMARKS.md, "The device check"): build here with
# `bash scripts/gpu-prepare.sh`, then run `bash scripts/gpu-check.sh` there with carry
# ["gpu-bundle"] and timeout_s 420. scripts/gpu-dry-run.sh runs it here and checks the result.
set -uo pipefail
start=$(date +%s)
cd "$(dirname "$0")/.."
repo=$PWD
bundle=${1:-gpu-bundle}
budget=${GPU_CHECK_BUDGET_S:-350}
deadline=$((start + budget))
if [ -n "${OUT:-}" ]; then
  out=$OUT
else
  out=$repo/gpu-check-out
  echo "gpu-check: OUT is not set; writing summary.txt and logs.tar.gz to $out"
fi
mkdir -p "$out"
rm -f "$out/summary.txt" "$out/logs.tar.gz"
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
logs=$work/logs
mkdir -p "$logs"
summary=$work/summary.txt
: > "$summary"

# Messages go to stdout and to the script's own log.
say() { printf '%s\n' "$*" | tee -a "$logs/gpu-check.log"; }

finished=0
finish() {
  [ "$finished" = 1 ] && return
  finished=1
  cp "$summary" "$out/summary.txt"
  cp "$summary" "$logs/summary.txt"
  say ""
  say "== summary ($(( $(date +%s) - start ))s of ${budget}s; $out: summary.txt logs.tar.gz)"
  cat "$summary" | tee -a "$logs/gpu-check.log"
  tar -czf "$work/logs.tar.gz" -C "$work" logs && cp "$work/logs.tar.gz" "$out/logs.tar.gz"
  rm -rf "$work"
}
trap finish EXIT
trap 'exit 130' INT TERM

# One summary line (also copied to $OUT at once, so an interrupted check still leaves it).
row() { # name verdict seconds headline
  local h=${4//$'\n'/ }
  printf '%-16s %-8s %4ss %s\n' "$1" "$2" "$3" "${h:0:240}" >> "$summary"
  cp "$summary" "$out/summary.txt"
  say "== $1: $2, $3s: ${h:0:240}"
}

if [ ! -f "$bundle/manifest.txt" ] || [ ! -f "$bundle/bin.tar.xz" ]; then
  say "gpu-check: $bundle/manifest.txt or bin.tar.xz missing; run scripts/gpu-prepare.sh first (and carry gpu-bundle)"
  row bundle fail 0 "gpu-bundle missing"
  exit 2
fi
bundle=$(cd "$bundle" && pwd)
bins=$work/bin-unpacked
mkdir -p "$bins"
unpack() { # xz where there is one, else Python's lzma (the device's python3 has it)
  if command -v xz >/dev/null; then
    tar -xJf "$bundle/bin.tar.xz" -C "$bins"
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2], filter="data")' \
      "$bundle/bin.tar.xz" "$bins"
  fi
}
if ! unpack 2>"$logs/unpack.log"; then
  row bundle fail 0 "cannot unpack $bundle/bin.tar.xz: $(head -1 "$logs/unpack.log")"
  exit 2
fi

# Directories where the libraries may live: CUDA toolkits, the distribution's library
# directories, and NVIDIA's pip wheels of every Python found.
candidate_dirs() {
  local d py sp
  for d in /usr/local/cuda*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu \
           /usr/lib64 /usr/lib/wsl/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib /opt/conda/lib; do
    [ -d "$d" ] && echo "$d"
  done
  for py in python3 /usr/bin/python3 /opt/conda/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    for sp in $(timeout 10 "$py" -c 'import site, sysconfig; print(" ".join(set(site.getsitepackages() + [site.getusersitepackages(), sysconfig.get_paths()["purelib"]])))' 2>/dev/null); do
      for d in "$sp"/nvidia/*/lib; do [ -d "$d" ] && echo "$d"; done
    done
  done
  for d in /usr/local/lib/python3*/dist-packages/nvidia/*/lib /usr/lib/python3/dist-packages/nvidia/*/lib; do
    [ -d "$d" ] && echo "$d"
  done
}
dirs=$(candidate_dirs | awk '!seen[$0]++')

found_lib() { # lib-stem -> first file lib<stem>.so* in the candidate directories
  local d f
  for d in $dirs; do
    for f in "$d"/lib"$1".so*; do [ -e "$f" ] && { echo "$f"; return 0; }; done
  done
  return 1
}

env_log=$logs/environment.txt
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -a)"
  echo "bundle: $(ls -l "$bundle/bin.tar.xz")"
  echo "candidate library directories:"
  printf '  %s\n' $dirs
} > "$env_log"
# Python (the speed peer) keeps the environment it had: CONVEXGAN_PYTHON_LD_LIBRARY_PATH is the
# variable before it changes here (empty: it was unset); benches/peer.rs gives it to python3, so
# torch loads its own wheels' libraries, not the toolkit's cuBLAS that our binaries get below.
export CONVEXGAN_PYTHON_LD_LIBRARY_PATH="${LD_LIBRARY_PATH-}"
ld=""
for lib in cuda nvrtc cublas cublasLt cudnn; do
  if f=$(found_lib "$lib"); then
    d=$(dirname "$f")
    echo "lib$lib: $f" >> "$env_log"
    case ":$ld:" in *":$d:"*) ;; *) ld="$ld${ld:+:}$d" ;; esac
  else
    echo "lib$lib: not found" >> "$env_log"
  fi
done
export LD_LIBRARY_PATH="$ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH (our binaries): $LD_LIBRARY_PATH" >> "$env_log"
echo "LD_LIBRARY_PATH (python): ${CONVEXGAN_PYTHON_LD_LIBRARY_PATH:-<unset>}" >> "$env_log"
export CONVEXGAN_REPO="$repo"
[ -d "$bundle/onnx-node" ] && export CONVEXGAN_ONNX_NODE_DATA="$bundle/onnx-node"
# A writable copy of the carried PTX cache, outside $OUT; new compilations land there too.
export CONVEXGAN_PTX_CACHE="$work/ptx-cache"
mkdir -p "$CONVEXGAN_PTX_CACHE"
cp "$bundle"/ptx/*.ptx "$bundle"/ptx/*.cubin "$CONVEXGAN_PTX_CACHE"/ 2>/dev/null || true
echo "PTX cache: $(ls "$CONVEXGAN_PTX_CACHE" | wc -l) files" >> "$env_log"
for p in /usr/local/cuda*/bin/ptxas $(for d in $dirs; do echo "$d/../bin/ptxas"; done); do
  [ -x "$p" ] && { export CONVEXGAN_PTXAS="$p"; echo "ptxas: $p" >> "$env_log"; break; }
done
# Criterion's files (the tables are made from them into the logs), outside the tree and $OUT.
export CRITERION_HOME="$work/criterion"
# Benchmarks: the CUDA backend only (CPU figures come from the 2-core development machine).
export CONVEXGAN_BENCH_BACKENDS=${CONVEXGAN_BENCH_BACKENDS:-cuda}
# Is there a GPU? Then nothing may skip for want of one.
gpu=0
if [ -e /dev/nvidia0 ]; then
  gpu=1
elif command -v nvidia-smi >/dev/null 2>&1 && timeout -k 2 10 nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  gpu=1
fi
if [ "$gpu" = 1 ]; then
  export CONVEXGAN_REQUIRE_GPU=1
  echo "GPU present: CONVEXGAN_REQUIRE_GPU=1" >> "$env_log"
else
  echo "no GPU (/dev/nvidia0 missing, nvidia-smi lists none): steps skip" >> "$env_log"
fi
cat "$env_log" >> "$logs/gpu-check.log"
say "gpu-check: $(grep -c -v '^#' "$bundle/manifest.txt") steps, overall limit ${budget}s, GPU present: $gpu"

# --- headlines -------------------------------------------------------------------------------

first_skip() { # log -> the first skip reason, shortened
  local r
  r=$(grep -m1 -E '^skipped:' "$1" | sed -E 's/^skipped: *//')
  echo "${r:0:100}"
}

tests_run() { # log -> how many tests passed or failed (0: the filter selected none)
  grep -E '^test result:' "$1" | sed -nE 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' \
    | awk '{s += $1 + $2} END {print s + 0}'
}

test_headline() { # log -> "52 passed" / "2 failed, 50 passed: name"
  local log=$1 p f name
  p=$(grep -E '^test result:' "$log" | sed -nE 's/.* ([0-9]+) passed.*/\1/p' | awk '{s += $1} END {print s + 0}')
  f=$(grep -E '^test result:' "$log" | sed -nE 's/.* ([0-9]+) failed.*/\1/p' | awk '{s += $1} END {print s + 0}')
  if [ "$f" -gt 0 ]; then
    name=$(grep -m1 -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/')
    echo "$f failed, $p passed: first $name"
  elif grep -q -E '^test result:' "$log"; then
    echo "$p passed"
  else
    echo "$(grep -c -E '^test .* \.\.\. ok$' "$log") passed before it stopped"
  fi
}

criterion_figures() { # log -> "id median" per measured benchmark, prefix-stripped
  awk '
    /time:/ {
      id = ($1 == "time:") ? prev : $1
      match($0, /\[[^]]*\]/)
      split(substr($0, RSTART + 1, RLENGTH - 2), a, " ")
      sub(/^(iter|ops)\/cuda\//, "", id)
      print id, a[3] " " a[4]
    }
    { if ($1 != "time:" && $0 ~ /^[^ ]/) prev = $1 }
  ' "$1"
}

criterion_headline() { # name log
  local figs n
  figs=$(criterion_figures "$2")
  n=$(printf '%s' "$figs" | grep -c .)
  case $1 in
    ops) figs=$(printf '%s\n' "$figs" | grep -E '^paper/(convex_combine_fwd|convex_combine_bwd|matmul_nn|adam_step) ') ;;
  esac
  figs=$(printf '%s\n' "$figs" | awk 'NF { printf "%s%s %s %s", sep, $1, $2, $3; sep = ", " }')
  echo "$n measured${figs:+; $figs}"
}

bench_headline() { # log -> its "headline:" line, else its last table row
  local h
  h=$(grep -E '^headline:' "$1" | tail -1 | sed -E 's/^headline: *//')
  [ -n "$h" ] || h=$(grep -E '^\|' "$1" | grep -v -E '^\|(---| size )' | tail -1)
  [ -n "$h" ] || h="no figures"
  echo "$h"
}

failure_line() { # log -> the first failure message
  local m
  m=$(grep -m1 -E '^failed:' "$1")
  [ -n "$m" ] || m=$(grep -m1 -A1 -E 'panicked at' "$1" | tail -1)
  [ -n "$m" ] || m=$(grep -v -E '^\s*$|^\(rc [0-9]+' "$1" | tail -1)
  echo "${m:0:160}"
}

# --- the steps -------------------------------------------------------------------------------

diagnostics() { # name cap path env args
  local log=$logs/$1.log t0 rc q="" left h
  t0=$(date +%s)
  : > "$log"
  if command -v nvidia-smi >/dev/null 2>&1; then
    { echo "\$ nvidia-smi"; timeout -k 2 8 nvidia-smi; echo "(rc $?)"; } >> "$log" 2>&1
    q=$(timeout -k 2 8 nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2>>"$log" | head -1)
    echo "\$ nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total: $q" >> "$log"
  else
    echo "nvidia-smi: not found" >> "$log"
  fi
  left=$(( $2 - ($(date +%s) - t0) ))
  [ "$left" -ge 5 ] || left=5
  echo "\$ convexgan $5" >> "$log"
  run_capped "$left" "$3" "$4" "$5" >> "$log" 2>&1
  rc=$?
  echo "(rc $rc)" >> "$log"
  if [ -n "$q" ]; then
    IFS=',' read -r gname gdrv gcc gmem <<<"$q"
    h="$gname, driver${gdrv}, cc${gcc},${gmem}"
  else
    h=$(grep -E '^(device|driver)[^:]*:' "$log" | head -2 | paste -sd ';' -)
    [ -n "$h" ] || h="no device"
  fi
  case $rc in
    0) verdict=pass ;;
    3) verdict=skip; [ -n "$q" ] || h="no device: $(grep -m1 '^skipped: no device' "$log" | sed -E 's/^skipped: no device[:,]? *//; s/^\((.*)\)$/\1/' | cut -c1-100)" ;;
    124|137) verdict=time-out; h="$h; gpu-info did not finish" ;;
    *) verdict=fail; h="$h; gpu-info rc $rc: $(failure_line "$log")" ;;
  esac
  row "$1" "$verdict" "$(( $(date +%s) - t0 ))" "$h"
}

run_capped() { # cap path env args: runs the binary from the bundle under `timeout`
  local envs=() argv=()
  [ "$3" = - ] || read -r -a envs <<<"$3"
  [ "$4" = - ] || read -r -a argv <<<"$4"
  timeout --kill-after=3 "$1" env "${envs[@]}" "$bins/$2" "${argv[@]}"
}

status=0
while IFS=$'\t' read -r name kind cap path env args; do
  case $name in ''|'#'*) continue ;; esac
  left=$((deadline - $(date +%s)))
  if [ "$left" -lt 5 ]; then
    row "$name" time-out 0 "not run: the overall limit of ${budget}s was reached"
    status=1
    continue
  fi
  [ "$cap" -le "$left" ] || cap=$left
  if [ "$kind" = info ]; then
    diagnostics "$name" "$cap" "$path" "$env" "$args"
    case $verdict in fail|time-out) status=1 ;; esac
    continue
  fi
  log=$logs/$name.log
  t0=$(date +%s)
  echo "\$ env $env $path $args   (cap ${cap}s)" > "$log"
  run_capped "$cap" "$path" "$env" "$args" >> "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  echo "(rc $rc after ${secs}s)" >> "$log"
  if [ "$kind" = criterion ] && [ -d "$CRITERION_HOME" ]; then
    prefix=$(sed -nE 's/.* ((iter|ops)\/cuda)$/\1/p' <<<"$args")
    { echo; echo "criterion tables:"; timeout 20 python3 benches/criterion_table.py "$CRITERION_HOME" ${prefix:+"$prefix"}; } >> "$log" 2>&1
  fi
  case $kind in
    test) h=$(test_headline "$log") ;;
    criterion) h=$(criterion_headline "$name" "$log") ;;
    *) h=$(bench_headline "$log") ;;
  esac
  case $rc in
    0)
      if [ "$kind" = test ] && [ "$(tests_run "$log")" -eq 0 ]; then
        # A filter (the manifest's arguments) that matches nothing must not read as a pass.
        verdict=fail; status=1; h="no test ran (arguments: $args)"
      elif [ "$gpu" = 0 ] && grep -q -E '^skipped:' "$log"; then
        verdict=skip; h="no device: $(first_skip "$log")"
      else
        verdict=pass
        n=$(grep -c -E '^skipped:' "$log")
        [ "$n" -eq 0 ] || h="$h ($n skipped: $(first_skip "$log"))"
      fi ;;
    124|137) verdict=time-out; status=1; h="cap ${cap}s; $h" ;;
    *)
      verdict=fail; status=1
      if [ "$kind" = test ]; then
        h="$h; $(failure_line "$log")"
      else
        [ "$h" = "no figures" ] && h="rc $rc: $(failure_line "$log")" || h="rc $rc: $(failure_line "$log"); $h"
      fi ;;
  esac
  row "$name" "$verdict" "$secs" "$h"
  # For the reader of stdout: what failed, and the benches' tables.
  case $verdict in fail|time-out) grep -m3 -A4 -E 'panicked at|^failed:' "$log" | head -24 ;; esac
  [ "$verdict" = skip ] || case $name in gpu|peer) grep -E '^(\||device)' "$log" ;; esac
done < "$bundle/manifest.txt"
exit $status
