#!/usr/bin/env bash
# The device check (scripts/gpu-check.sh) run here, on a machine without a GPU, exactly as the
# device runs it, and checked: it must finish well inside its 6 minutes, exit 0, leave exactly
# summary.txt and logs.tar.gz under $OUT, give one summary line per manifest step, in order, each
# "skip" with "no device", and leave nothing behind in the temporary directory. It also checks
# the bundle: the caps sum to at most 340 s, the CPU-only oracle (tests/pipeline/torch_peer.rs,
# inside the pipeline binary) is not a step of its own, and the step gpu_equivalence runs the op tests' `gpu::` sections only (the emulated
# kernels and the NVRTC checks of bin/tests/ops are for this machine).
# Not part of scripts/test.sh: it needs the full bundle build.
# Usage: bash scripts/gpu-dry-run.sh [--prepare]   (--prepare: run scripts/gpu-prepare.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" != --prepare ] || bash scripts/gpu-prepare.sh
fail() { echo "gpu-dry-run: FAIL: $*" >&2; exit 1; }
[ -f gpu-bundle/manifest.txt ] && [ -f gpu-bundle/bin.tar.xz ] \
  || fail "no gpu-bundle/; run scripts/gpu-prepare.sh (or pass --prepare)"
if [ -e /dev/nvidia0 ]; then
  fail "this machine has a GPU (/dev/nvidia0): the dry run expects none"
fi

# The bundle.
steps=$(grep -v '^#' gpu-bundle/manifest.txt | cut -f1)
caps=$(grep -v '^#' gpu-bundle/manifest.txt | cut -f3 | awk '{s += $1} END {print s + 0}')
[ "$caps" -le 340 ] || fail "the caps sum to ${caps}s (> 340)"
contents=$(tar -tJf gpu-bundle/bin.tar.xz)
for b in bin/tests/torch_peer bin/torch_peer; do
  ! grep -qx "$b" <<<"$contents" || fail "$b is in the bundle"
done
equiv=$(awk -F'\t' '$1 == "gpu_equivalence" { print $4 "|" $6 }' gpu-bundle/manifest.txt)
[ "$equiv" = "bin/tests/ops|gpu:: --nocapture" ] \
  || fail "gpu_equivalence runs '$equiv', not 'bin/tests/ops|gpu:: --nocapture'"
for s in $(grep -v '^#' gpu-bundle/manifest.txt | cut -f4); do
  grep -qx "$s" <<<"$contents" || fail "$s (in the manifest) is not in bin.tar.xz"
done
[ "$(head -1 <<<"$steps")" = diagnostics ] || fail "the first step is not diagnostics"
[ "$(tail -1 <<<"$steps")" = peer ] || fail "the last step is not peer"

# The check, as on the device: a fresh, empty $OUT, carry ["gpu-bundle"].
OUT=$(mktemp -d)
export OUT
before=$(ls -d "${TMPDIR:-/tmp}"/gpu-check.* 2>/dev/null | sort || true)
t0=$(date +%s)
rc=0
bash scripts/gpu-check.sh > "$OUT.stdout" 2>&1 || rc=$?
secs=$(( $(date +%s) - t0 ))
after=$(ls -d "${TMPDIR:-/tmp}"/gpu-check.* 2>/dev/null | sort || true)
echo "gpu-check.sh: rc $rc in ${secs}s; stdout in $OUT.stdout"
[ "$rc" = 0 ] || fail "gpu-check.sh exited $rc"
[ "$secs" -le 360 ] || fail "gpu-check.sh took ${secs}s (> 360)"
[ "$before" = "$after" ] || fail "gpu-check.sh left a temporary directory behind"
files=$(cd "$OUT" && find . -mindepth 1 | sort | tr '\n' ' ')
[ "$files" = "./logs.tar.gz ./summary.txt " ] || fail "\$OUT holds: $files (want exactly summary.txt and logs.tar.gz)"
names=$(awk '{print $1}' "$OUT/summary.txt")
[ "$names" = "$steps" ] || fail "summary steps ($(echo $names)) differ from the manifest's ($(echo $steps))"
while read -r name verdict _ headline; do
  [ "$verdict" = skip ] || fail "$name: $verdict, not skip: $headline"
  case $headline in "no device"*) ;; *) fail "$name: the headline does not say no device: $headline" ;; esac
done < "$OUT/summary.txt"
logs=$(tar -tzf "$OUT/logs.tar.gz")
for s in $steps environment gpu-check summary; do
  grep -qx "logs/$s.log\|logs/$s.txt" <<<"$logs" || fail "logs.tar.gz has no log of $s"
done
cmp -s "$OUT/summary.txt" <(tail -n "$(wc -l < "$OUT/summary.txt")" "$OUT.stdout") \
  || fail "stdout does not end with the summary"
echo "summary.txt:"
cat "$OUT/summary.txt"
echo "ls \$OUT: $(ls "$OUT" | tr '\n' ' ')"
echo "gpu-dry-run: ok ($(echo $steps | wc -w) steps, caps ${caps}s, check ${secs}s)"
rm -rf "$OUT" "$OUT.stdout"
