#!/usr/bin/env python3
"""An independent PyTorch implementation of the whole `convexgan run` job on Fashion-MNIST-LT.

Written from docs/METHOD.md (§1–§6 and the `fmnist` preset of §8), not ported from the Rust code:
data split (§6), Phase 1 (§2), feature dictionaries (§3), Phase 2 (§4, Algorithm 1) and the test
metrics (§5). Idiomatic eager PyTorch (nn.Linear, nn.BatchNorm1d, torch.optim.Adam,
F.cross_entropy), all sampling vectorised with torch ops. It is the speed peer of
scripts/bench-whole-run.sh, and its metrics show that it does the same job; its random numbers are
its own (numpy / torch generators, not ChaCha8), so the metrics agree only statistically.

Prints one JSON line at the end:
  {"top1", "acsa", "gm", "phase1": {"top1", "acsa", "gm"}, "wall_s": {...}, "peak_rss_mb", ...}
(top-level metrics are Phase 2's Q). Progress goes to stderr unless --quiet.

Only torch and numpy are needed. What the Rust run does and this one does not: it writes
checkpoints, the dictionary file, logs, a report and PNG plots to its run directory.
"""

import argparse
import gzip
import json
import math
import os
import resource
import sys
import time

import numpy as np

# GNU OpenMP (torch's CPU thread pool) spins at its barriers by default. On a shared machine, where
# another process holds a core, a spinning thread burns the time slice its partner needs, and a
# 2-thread run became ~13x slower per Phase 1 step than 1 thread (measured on the 2-vCPU VM under
# load; passive waiting: on par or faster). Set before torch loads libgomp; an explicit
# OMP_WAIT_POLICY in the environment wins. Reported in the output JSON.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print(f"torch_pipeline.py: torch is not importable: {e}", file=sys.stderr)
    sys.exit(3)

RSS_AFTER_IMPORT_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # torch's own share

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"

# The `fmnist` preset (METHOD.md §8, src/config.rs Config::fmnist()).
PRESET = dict(
    imbalance=100.0,
    n_max=5000,
    val_per_class=500,
    stream_widths=(256, 128),
    q_hidden=256,
    z_dim=256,
    g_hidden=(512, 1024),
    d_hidden=(1024, 512),
    slope=0.2,
    p1_epochs=15,
    p1_batch=256,
    p1_lr=1e-3,
    shape_only_epochs=0,
    max_rows_per_class=2000,
    p2_epochs=10,
    p2_batch=256,
    p2_lr=1e-4,
    ns=30,
    lam=1000.0,
    d_every=5,
)


def log(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


# ---- data (METHOD.md §6) -------------------------------------------------------------------------


def read_idx(path):
    """An IDX file (.gz tried first, then uncompressed): magic (dtype, ndim), dims, big-endian."""
    for p in (path + ".gz", path):
        if os.path.exists(p):
            opener = gzip.open if p.endswith(".gz") else open
            with opener(p, "rb") as f:
                data = f.read()
            break
    else:
        raise SystemExit(f"torch_pipeline.py: {path}(.gz) not found")
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def class_counts(classes, n_max, rho):
    """n_c = floor(n_max · ρ^(−c/(N_C−1))), nudged by 1e-9 before flooring."""
    return [int(math.floor(n_max * rho ** (-c / (classes - 1)) + 1e-9)) for c in range(classes)]


def load_fmnist_lt(data_dir, seed, p):
    xtr = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte"))
    ytr = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte")).astype(np.int64)
    xte = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte"))
    yte = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte")).astype(np.int64)
    classes = int(ytr.max()) + 1
    counts = class_counts(classes, p["n_max"], p["imbalance"])
    train_idx, val_idx = [], []
    for c in range(classes):
        # Each class's images shuffled by a generator seeded with (seed, c): one stream per class.
        idx = np.flatnonzero(ytr == c)
        idx = idx[np.random.default_rng([seed, c]).permutation(len(idx))]
        v = p["val_per_class"]
        if v + counts[c] > len(idx):
            raise SystemExit(f"class {c}: {len(idx)} images, needs {v} + {counts[c]}")
        val_idx.append(idx[:v])  # the balanced validation split: set aside, unused by this job
        train_idx.append(idx[v : v + counts[c]])
    train_idx = np.concatenate(train_idx)
    for c in range(classes):
        if not (yte == c).any():
            raise SystemExit(f"class {c} has no test images")

    def to_x(a):
        return torch.from_numpy(a.reshape(len(a), -1).astype(np.float32) / 255.0)

    return dict(
        x_train=to_x(xtr[train_idx]),
        y_train=torch.from_numpy(ytr[train_idx]),
        x_test=to_x(xte),
        y_test=torch.from_numpy(yte),
        counts=counts,
        classes=classes,
        val_rows=int(sum(len(v) for v in val_idx)),
    )


# ---- networks (METHOD.md §1, §4) -----------------------------------------------------------------


def stream(d_in, widths):
    """Linear → BatchNorm1d → ReLU per width (BN momentum 0.1, eps 1e-5: torch's defaults)."""
    layers = []
    for w in widths:
        layers += [nn.Linear(d_in, w), nn.BatchNorm1d(w), nn.ReLU()]
        d_in = w
    return nn.Sequential(*layers)


def leaky_mlp(d_in, hidden, d_out, slope):
    layers = []
    for h in hidden:
        layers += [nn.Linear(d_in, h), nn.LeakyReLU(slope)]
        d_in = h
    layers.append(nn.Linear(d_in, d_out))
    return nn.Sequential(*layers)


class Heads(nn.Module):
    """f_t, f_s (identity backbone: both see the 784 pixels), A on f_s, Q on [f_t ‖ f_s]."""

    def __init__(self, d_in, classes, p):
        super().__init__()
        w = p["stream_widths"]
        self.f_t = stream(d_in, w)
        self.f_s = stream(d_in, w)
        self.a = nn.Linear(w[-1], classes)
        d = 2 * w[-1]
        if p["q_hidden"]:
            self.q = nn.Sequential(nn.Linear(d, p["q_hidden"]), nn.ReLU(), nn.Linear(p["q_hidden"], classes))
        else:
            self.q = nn.Linear(d, classes)

    def features(self, x):
        return torch.cat([self.f_t(x), self.f_s(x)], 1)


# ---- Phase 1 (METHOD.md §2) ----------------------------------------------------------------------


def phase1(heads, x, y, p, epochs, gen, args):
    opt = torch.optim.Adam(heads.parameters(), lr=p["p1_lr"])
    n = len(x)
    batch = min(p["p1_batch"], n)
    heads.train()
    for epoch in range(epochs):
        shape_only = epoch < p["shape_only_epochs"]
        order = torch.randperm(n, generator=gen)
        tot_q = tot_a = 0.0
        steps = 0
        for chunk in order.split(batch):
            if len(chunk) < 2:  # BatchNorm needs two samples
                continue
            xb, yb = x[chunk], y[chunk]
            fs = heads.f_s(xb)
            loss_a = F.cross_entropy(heads.a(fs), yb)
            loss = loss_a
            if not shape_only:
                loss_q = F.cross_entropy(heads.q(torch.cat([heads.f_t(xb), fs], 1)), yb)
                loss = loss + loss_q
                tot_q += loss_q.item()
            tot_a += loss_a.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
        log(args, f"phase 1 epoch {epoch + 1}/{epochs}: ce_q {tot_q / steps:.4f} ce_a {tot_a / steps:.4f}")


# ---- dictionaries (METHOD.md §3) -----------------------------------------------------------------


@torch.no_grad()
def build_dictionary(heads, x, y, classes, max_rows, gen):
    """Frozen streams in eval mode; ≤ max_rows rows per class (a seeded subset, kept in
    training-set order); classes laid end to end. Returns texture, shape, rows, offsets."""
    heads.eval()
    ft = torch.cat([heads.f_t(xb) for xb in x.split(4096)])
    fs = torch.cat([heads.f_s(xb) for xb in x.split(4096)])
    keep = []
    for c in range(classes):
        idx = torch.nonzero(y == c).flatten()
        if len(idx) == 0:
            raise SystemExit(f"class {c} has no dictionary rows")
        if len(idx) > max_rows:
            idx = idx[torch.randperm(len(idx), generator=gen)[:max_rows].sort().values]
        keep.append(idx)
    rows = torch.tensor([len(k) for k in keep])
    offsets = torch.cumsum(rows, 0) - rows
    keep = torch.cat(keep)
    return ft[keep].contiguous(), fs[keep].contiguous(), rows, offsets


# ---- Phase 2 (METHOD.md §4, Algorithm 1) ---------------------------------------------------------


class RowSampler:
    """N_s distinct rows of each sample's class (a uniform draw without replacement), vectorised
    per class: random keys over the class's rows for all its samples at once, top-N_s of them.
    (One key matrix over the widest class with padding masked out is simpler but draws 2.4x as
    many keys here and measured 2x slower.)"""

    def __init__(self, rows, offsets, ns, gen):
        self.rows, self.offsets, self.ns, self.gen = rows.tolist(), offsets.tolist(), ns, gen

    def __call__(self, c):
        out = torch.empty(len(c), self.ns, dtype=torch.long)
        for k in torch.unique(c).tolist():
            at = torch.nonzero(c == k).flatten()
            keys = torch.rand(len(at), self.rows[k], generator=self.gen)
            out[at] = keys.topk(self.ns, dim=1, sorted=False).indices + self.offsets[k]
        return out  # B × N_s global rows


def convex_combine(logits, dict_t, dict_s, idx, ns):
    """Eq. 3: w_t = softmax(g_t), w_s = softmax(g_s); f̃ = Σ_k w[k] · L[i_k] per stream.
    embedding_bag's weighted sum over the bag of rows, without materialising the B × N_s × d
    gather (measured 2x faster forward and backward than gather + bmm)."""
    w_t = torch.softmax(logits[:, :ns], 1)
    w_s = torch.softmax(logits[:, ns:], 1)
    f_t = F.embedding_bag(idx, dict_t, per_sample_weights=w_t, mode="sum")
    f_s = F.embedding_bag(idx, dict_s, per_sample_weights=w_s, mode="sum")
    return torch.cat([f_t, f_s], 1)


def g_loss(q_logits, d_out, c, majority, lam):
    """Eq. 4: mean_b [q_c² + Σ_{j ∉ {c, c_m}} (1 − q_j)² + λ (1 − D)²]."""
    q = torch.softmax(q_logits, 1)
    target = F.one_hot(c, q.shape[1]).bool()
    push_up = ~target
    push_up[:, majority] = False
    per = (q.pow(2) * target).sum(1) + ((1 - q).pow(2) * push_up).sum(1)
    return (per + lam * (1 - d_out[:, 0]).pow(2)).mean()


def phase2(q, dict_t, dict_s, rows, offsets, counts, classes, p, epochs, gen, args):
    ns, B, z_dim, lam = p["ns"], p["p2_batch"], p["z_dim"], p["lam"]
    if ns > int(rows.min()):
        c = int(rows.argmin())
        raise SystemExit(f"N_s = {ns} exceeds the smallest dictionary (class {c} has {int(rows[c])} rows)")
    d = dict_t.shape[1] + dict_s.shape[1]
    G = leaky_mlp(z_dim + classes, p["g_hidden"], 2 * ns, p["slope"])
    D = leaky_mlp(d + classes, p["d_hidden"], 1, p["slope"])
    opt_g = torch.optim.Adam(G.parameters(), lr=p["p2_lr"])
    opt_d = torch.optim.Adam(D.parameters(), lr=p["p2_lr"])
    opt_q = torch.optim.Adam(q.parameters(), lr=p["p2_lr"])
    g_params = list(G.parameters())

    counts_t = torch.tensor(counts, dtype=torch.float64)
    majority = int(counts_t.argmax())  # ties: lowest index
    minority_w = counts_t.max() - counts_t  # P(c_g) ∝ n_{c_m} − n_c
    sample_rows = RowSampler(rows, offsets, ns, gen)
    n_train = int(sum(counts))
    iters = math.ceil(n_train / B)

    def step(opt, loss):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def d_loss(f, onehot, target):
        return (D(torch.cat([f, onehot], 1))[:, 0] - target).pow(2).mean()

    it = 0
    for epoch in range(epochs):
        sums = dict(q_real=0.0, q_fake=0.0, g=0.0)
        for _ in range(iters):
            d_turn = it % p["d_every"] == 0
            it += 1
            # Step 1: c_r uniform, I_b, the real pair (texture row I_b[i], shape row I_b[j]), z_r.
            c_r = torch.randint(classes, (B,), generator=gen)
            idx_r = sample_rows(c_r)
            pick = torch.randint(ns, (B, 2), generator=gen)
            real_t = idx_r.gather(1, pick[:, :1])[:, 0]
            real_s = idx_r.gather(1, pick[:, 1:])[:, 0]
            z_r = torch.randn(B, z_dim, generator=gen)
            onehot_r = F.one_hot(c_r, classes).float()
            real = torch.cat([dict_t[real_t], dict_s[real_s]], 1)

            # Step 2: Q on real, D on real (D turn), generate with G fixed, Q and D on fake.
            lq = F.cross_entropy(q(real), c_r)
            step(opt_q, lq)
            sums["q_real"] += lq.item()
            if d_turn:
                step(opt_d, d_loss(real, onehot_r, 1.0))
            with torch.no_grad():
                fake = convex_combine(G(torch.cat([z_r, onehot_r], 1)), dict_t, dict_s, idx_r, ns)
            lq = F.cross_entropy(q(fake), c_r)
            step(opt_q, lq)
            sums["q_fake"] += lq.item()
            if d_turn:
                step(opt_d, d_loss(fake, onehot_r, 0.0))

            # Step 3: c_g ∝ n_{c_m} − n_c, fresh rows and z_g; G on L_G through the updated Q, D.
            c_g = torch.multinomial(minority_w, B, replacement=True, generator=gen)
            idx_g = sample_rows(c_g)
            z_g = torch.randn(B, z_dim, generator=gen)
            onehot_g = F.one_hot(c_g, classes).float()
            fake = convex_combine(G(torch.cat([z_g, onehot_g], 1)), dict_t, dict_s, idx_g, ns)
            lg = g_loss(q(fake), D(torch.cat([fake, onehot_g], 1)), c_g, majority, lam)
            # Only G's gradients: Q and D are differentiated through, not updated.
            grads = torch.autograd.grad(lg, g_params)
            for prm, gr in zip(g_params, grads):
                prm.grad = gr
            opt_g.step()
            sums["g"] += lg.item()
        log(args, f"phase 2 epoch {epoch + 1}/{epochs}: " + " ".join(f"{k} {v / iters:.4f}" for k, v in sums.items()))


# ---- metrics (METHOD.md §5) ----------------------------------------------------------------------


@torch.no_grad()
def evaluate(heads, q, x, y, classes):
    heads.eval()
    logits = torch.cat([q(heads.features(xb)) for xb in x.split(1024)])
    pred = logits.argmax(1)  # first maximum wins a tie
    conf = torch.zeros(classes, classes, dtype=torch.int64)
    conf.index_put_((y, pred), torch.ones_like(y), accumulate=True)
    support = conf.sum(1).double()
    if (support == 0).any():
        raise SystemExit(f"class {int((support == 0).nonzero()[0])} has no test samples")
    recall = conf.diag().double() / support
    gm = 0.0 if (recall == 0).any() else float(recall.log().mean().exp())
    return dict(
        top1=float(conf.diag().sum()) / len(y),
        acsa=float(recall.mean()),
        gm=gm,
        recall=[round(float(r), 4) for r in recall],
    )


# ---- the job -------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--phase1-epochs", type=int, default=None, help=f"default {PRESET['p1_epochs']}")
    ap.add_argument("--epochs", type=int, default=None, help=f"Phase 2 epochs, default {PRESET['p2_epochs']}")
    ap.add_argument("--data", default=DEFAULT_DATA, help="directory of the four Fashion-MNIST IDX files")
    ap.add_argument("--quiet", action="store_true", help="no per-epoch progress on stderr")
    args = ap.parse_args()
    p = dict(PRESET)
    p1_epochs = p["p1_epochs"] if args.phase1_epochs is None else args.phase1_epochs
    p2_epochs = p["p2_epochs"] if args.epochs is None else args.epochs

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the heads', G's and D's initial weights
    gen = torch.Generator().manual_seed(args.seed)  # shuffles, subsets and Phase 2 draws
    wall = {}
    t_all = t = time.perf_counter()

    data = load_fmnist_lt(args.data, args.seed, p)
    classes, counts = data["classes"], data["counts"]
    wall["load"] = time.perf_counter() - t
    log(args, f"data: {len(data['x_train'])} training images {counts}, {data['val_rows']} validation, "
              f"{len(data['x_test'])} test")

    t = time.perf_counter()
    heads = Heads(data["x_train"].shape[1], classes, p)
    phase1(heads, data["x_train"], data["y_train"], p, p1_epochs, gen, args)
    wall["phase1"] = time.perf_counter() - t

    t = time.perf_counter()
    for prm in heads.parameters():
        prm.requires_grad_(False)
    dict_t, dict_s, rows, offsets = build_dictionary(
        heads, data["x_train"], data["y_train"], classes, p["max_rows_per_class"], gen
    )
    wall["dict"] = time.perf_counter() - t

    t = time.perf_counter()
    before = evaluate(heads, heads.q, data["x_test"], data["y_test"], classes)
    wall["eval_phase1"] = time.perf_counter() - t

    t = time.perf_counter()
    q = heads.q  # Q fine-tuned in place; the streams stay frozen and A is not used again
    for prm in q.parameters():
        prm.requires_grad_(True)
    phase2(q, dict_t, dict_s, rows, offsets, counts, classes, p, p2_epochs, gen, args)
    wall["phase2"] = time.perf_counter() - t

    t = time.perf_counter()
    after = evaluate(heads, q, data["x_test"], data["y_test"], classes)
    wall["eval_phase2"] = time.perf_counter() - t
    wall["total"] = time.perf_counter() - t_all
    wall = {k: round(v, 3) for k, v in wall.items()}

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    out = dict(
        top1=after["top1"],
        acsa=after["acsa"],
        gm=after["gm"],
        recall=after["recall"],
        phase1=before,
        wall_s=wall,
        peak_rss_mb=round(peak_kb / 1024, 1),
        rss_after_import_mb=round(RSS_AFTER_IMPORT_MB, 1),
        threads=torch.get_num_threads(),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        torch=torch.__version__,
        seed=args.seed,
        epochs=dict(phase1=p1_epochs, phase2=p2_epochs),
        train_counts=counts,
        dict_rows=[int(r) for r in rows],
    )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
