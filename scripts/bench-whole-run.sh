#!/usr/bin/env bash
# The whole main job, ours against an independent PyTorch peer, on the CPU.
#
#   A  target/release/convexgan run --quiet --run-dir <fresh temporary directory>
#   B  $CONVEXGAN_PYTHON peers/torch_pipeline.py --threads $THREADS
#
# Both do the `fmnist` preset end to end (data split, Phase 1, dictionaries, Phase 2, test
# metrics; METHOD.md §1-§6, §8). They run alternately, A B A B ..., for $ROUNDS rounds, each under
# /usr/bin/time -v, which gives wall time, CPU time (user + sys) and peak RSS. Prints each run,
# then the medians and the ratios ours ÷ torch, and both sides' final top-1 / ACSA / GM so a
# reader can see they did the same job (their random numbers differ, so the metrics agree only
# roughly). A ratio below 1 means ours is faster / smaller.
#
# Environment:
#   ROUNDS            rounds of A then B (default 3)
#   THREADS           CPU threads of each side (default 2): MATMUL_NUM_THREADS and
#                     RAYON_NUM_THREADS for ours (its CPU backend sizes both its matrix-product
#                     pool and its own rayon pool from MATMUL_NUM_THREADS, `use_all_cores`
#                     otherwise takes every CPU), torch.set_num_threads for the peer. When the
#                     machine has more CPUs than THREADS and taskset exists, both sides are pinned
#                     to CPUs 0..THREADS-1, so they run on the same cores.
#   CONVEXGAN_PYTHON  the Python with torch for the peer (default python3)
#   CONVEXGAN_BIN     our binary (default target/release/convexgan; build it with
#                     `cargo build --release`)
#   SEED              seed of both sides (default 0)
#   PHASE1_EPOCHS, EPOCHS  Phase 1 / Phase 2 epochs of both sides (default: the preset's 15 / 10;
#                     smaller values only to try the script out)
#   KEEP              1: keep the temporary directory (run dirs, logs) and print where it is
#
# The peer waits passively at OpenMP barriers (OMP_WAIT_POLICY=PASSIVE, its default unless set;
# see peers/torch_pipeline.py); the line "torch:" of the header says which policy it ran with.
# Our run also writes checkpoints, the dictionary, logs, report.md and three PNG plots; the peer
# writes nothing. Measure on an otherwise idle machine: other load moves both sides, not always
# equally.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
SEED=${SEED:-0}
PY=${CONVEXGAN_PYTHON:-python3}
BIN=${CONVEXGAN_BIN:-target/release/convexgan}
PEER=peers/torch_pipeline.py
EPOCH_ARGS=()
[[ -n "${PHASE1_EPOCHS:-}" ]] && EPOCH_ARGS+=(--phase1-epochs "$PHASE1_EPOCHS")
[[ -n "${EPOCHS:-}" ]] && EPOCH_ARGS+=(--epochs "$EPOCHS")

die() {
    echo "bench-whole-run: $*" >&2
    exit 1
}

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer (got '$THREADS')"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (GNU time; Debian/Ubuntu: apt-get install time)"
command -v python3 >/dev/null || die "python3 is needed to parse the results"
[[ -x "$BIN" ]] || die "$BIN is missing or not executable: build it first with \`cargo build --release\` (or set CONVEXGAN_BIN)"
[[ -f "$PEER" ]] || die "$PEER is missing"
command -v "$PY" >/dev/null || die "CONVEXGAN_PYTHON='$PY' is not a command (point it at a Python with torch and numpy)"
if ! torch_version=$("$PY" -c 'import torch, numpy; print(torch.__version__)' 2>&1); then
    die "torch (and numpy) are not importable by '$PY': ${torch_version##*$'\n'}
    set CONVEXGAN_PYTHON to a Python that has them (e.g. a venv with \`pip install torch numpy\`)"
fi

PIN=()
ncpu=$(nproc)
if ((ncpu > THREADS)) && command -v taskset >/dev/null; then
    PIN=(taskset -c "0-$((THREADS - 1))")
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-whole-run.XXXXXX")
if [[ "${KEEP:-0}" == 1 ]]; then
    echo "keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

echo "whole run, fmnist preset, seed $SEED${EPOCH_ARGS:+ (${EPOCH_ARGS[*]})}: $ROUNDS rounds of ours then torch, $THREADS threads each"
echo "ours:  $BIN ($(stat -c '%y' "$BIN" | cut -d. -f1)), MATMUL_NUM_THREADS=RAYON_NUM_THREADS=$THREADS"
echo "torch: $PY $PEER --threads $THREADS (torch $torch_version, OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE})"
echo "machine: $ncpu CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)${PIN:+, pinned: ${PIN[*]}}"
echo

# Appends one TSV line: side round wall_s cpu_s rss_mb top1 acsa gm p1_top1 p1_acsa p1_gm stages
record() {
    local side=$1 round=$2 timefile=$3 metrics=$4 stages=$5
    python3 - "$side" "$round" "$timefile" "$metrics" "$stages" >>"$RESULTS" <<'PY'
import json, re, sys
side, rnd, timefile, metrics, stages = sys.argv[1:]
t = open(timefile).read()
def field(name):
    m = re.search(r"^\s*" + re.escape(name) + r":\s*(.+)$", t, re.M)
    if not m:
        sys.exit(f"bench-whole-run: no '{name}' in {timefile}")
    return m.group(1).strip()
def wall(s):  # h:mm:ss or m:ss.ss
    secs = 0.0
    for part in s.split(":"):
        secs = secs * 60 + float(part)
    return secs
w = wall(field("Elapsed (wall clock) time (h:mm:ss or m:ss)"))
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
rss = float(field("Maximum resident set size (kbytes)")) / 1024
m = json.load(open(metrics))
if side == "ours":
    after, before = m["convex_gan"], m["phase1"]
else:
    after, before = m, m["phase1"]
vals = [after["top1"], after["acsa"], after["gm"], before["top1"], before["acsa"], before["gm"]]
print("\t".join([side, rnd, f"{w:.2f}", f"{cpu:.2f}", f"{rss:.1f}"] + [f"{v:.4f}" for v in vals] + [stages]))
PY
}

show() { # the last line of the results
    tail -n 1 "$RESULTS" | awk -F'\t' '{printf "  %-5s round %s: wall %7.1fs  cpu %7.1fs  peak RSS %7.1f MB  top-1 %.4f ACSA %.4f GM %.4f  (%s)\n", $1, $2, $3, $4, $5, $6, $7, $8, $12}'
}

for ((r = 1; r <= ROUNDS; r++)); do
    # A: ours.
    run_dir="$WORK/ours-$r"
    if ! MATMUL_NUM_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS \
        /usr/bin/time -v -o "$WORK/ours-$r.time" "${PIN[@]}" \
        "$BIN" run --quiet --seed "$SEED" "${EPOCH_ARGS[@]}" --run-dir "$run_dir" >"$WORK/ours-$r.out" 2>"$WORK/ours-$r.err"; then
        tail -n 20 "$WORK/ours-$r.err" >&2
        die "round $r: ours failed (log above; KEEP=1 keeps $WORK)"
    fi
    [[ -f "$run_dir/metrics.json" ]] || die "round $r: ours wrote no $run_dir/metrics.json"
    # Its stage lines on stderr: "phase 1: ... in 12.3s, ...", "phase 2: ... in 45.6s", "total 60.1s on cpu".
    stages=$(python3 - "$WORK/ours-$r.err" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
out = []
for name, pat in (("phase1", r"^phase 1:.* in ([0-9.]+)s"), ("phase2", r"^phase 2:.* in ([0-9.]+)s"),
                  ("total", r"^total ([0-9.]+)s")):
    m = re.search(pat, t, re.M)
    if m:
        out.append(f"{name} {float(m.group(1)):.1f}s")
print(", ".join(out) or "no stage times")
PY
)
    record ours "$r" "$WORK/ours-$r.time" "$run_dir/metrics.json" "$stages"
    show
    rm -rf "$run_dir" # keep the disk use of many rounds flat (KEEP keeps the logs only)

    # B: torch.
    if ! /usr/bin/time -v -o "$WORK/torch-$r.time" "${PIN[@]}" \
        "$PY" "$PEER" --threads "$THREADS" --seed "$SEED" "${EPOCH_ARGS[@]}" --quiet >"$WORK/torch-$r.out" 2>"$WORK/torch-$r.err"; then
        tail -n 20 "$WORK/torch-$r.err" >&2
        die "round $r: torch peer failed (log above)"
    fi
    tail -n 1 "$WORK/torch-$r.out" >"$WORK/torch-$r.json"
    stages=$(python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["wall_s"]; print(", ".join(f"{k} {w[k]:.1f}s" for k in ("phase1","phase2","total") if k in w))' "$WORK/torch-$r.json")
    record torch "$r" "$WORK/torch-$r.time" "$WORK/torch-$r.json" "$stages"
    show
done

echo
python3 - "$RESULTS" <<'PY'
import statistics as st, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
side = {s: [r for r in rows if r[0] == s] for s in ("ours", "torch")}
def med(s, i):
    return st.median(float(r[i]) for r in side[s])
print(f"medians over {len(side['ours'])} rounds      {'ours':>11} {'torch':>11} {'ours/torch':>11}")
for name, i, unit in (("wall", 2, " s"), ("CPU (user+sys)", 3, " s"), ("peak RSS", 4, " MB")):
    a, b = med("ours", i), med("torch", i)
    print(f"  {name:<24} {f'{a:.1f}{unit}':>11} {f'{b:.1f}{unit}':>11} {a / b:>11.3f}")
print()
print("final metrics (median over rounds)   top-1    ACSA      GM   | Phase 1: top-1    ACSA      GM")
for s in ("ours", "torch"):
    v = [med(s, i) for i in range(5, 11)]
    print(f"  {s:<34} {v[0]:.4f}  {v[1]:.4f}  {v[2]:.4f} |          {v[3]:.4f}  {v[4]:.4f}  {v[5]:.4f}")
PY
