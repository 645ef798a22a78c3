#!/usr/bin/env python3
"""An independent PyTorch implementation of one Phase 2 iteration (METHOD.md §4), with autograd.

Two uses:

  --check FILE   gradient oracle. FILE is a safetensors fixture written by tests/pipeline/torch_peer.rs: the
                 dictionary, one iteration's drawn inputs, and for each of the five updates
                 (q_real, d_real, q_fake, d_fake, g) our weights before it, our parameter gradients,
                 our loss, our Adam moments and our weights after it. Each update is recomputed here
                 from *our* weights before it (so an f32 run's rounding does not compound through
                 Adam), its loss and gradients by autograd, and torch.optim.Adam is applied to our
                 gradients from our moments and compared with our weights after it. Prints one JSON
                 object {"results": [{"name", "kind", "rel_err", "worst", "got", "want"}, ...]};
                 the Rust test judges the tolerances. Computes in float64.

  --bench        speed peer. Iterations per second of one Phase 2 iteration in PyTorch eager and
                 with torch.compile, at the `fmnist` or `paper` size (same widths, class profile and
                 dictionary size as benches/support/sizes.rs). Prints one JSON object.

Nothing here is imported from the Rust side except the fixture; the formulas are METHOD.md §4's.
No dependency but torch (safetensors is parsed by hand: 8-byte header length, JSON header, data).
"""

import argparse
import json
import math
import random
import struct
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the Rust test reads this line and reports a skip
    print(json.dumps({"skipped": f"torch is not importable: {e}"}))
    sys.exit(0)

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        shape = info["shape"]
        if end == start:
            tensors[name] = torch.zeros(shape, dtype=dtype)
        else:
            buf = bytearray(data[base + start : base + end])
            tensors[name] = torch.frombuffer(buf, dtype=dtype).reshape(shape).clone()
    return meta, tensors


# ---- METHOD.md §4 -------------------------------------------------------------------------------------


def mlp(x, layers, weights, slope):
    """`layers`: [name, act] per Linear; weights stored in×out (y = x·W + b)."""
    for name, act in layers:
        x = x @ weights[name + ".weight"] + weights[name + ".bias"]
        if act == "relu":
            x = torch.relu(x)
        elif act == "leaky":
            x = F.leaky_relu(x, slope)
    return x


def generate(g_layers, g_w, slope, z, onehot, rows, dict_t, dict_s, ns):
    """Eq. 3: G's 2·N_s outputs → two softmaxes → convex combinations of the sampled rows."""
    logits = mlp(torch.cat([z, onehot], 1), g_layers, g_w, slope)
    w_t = torch.softmax(logits[:, :ns], 1)
    w_s = torch.softmax(logits[:, ns:], 1)
    idx = rows.reshape(-1, ns)
    f_t = torch.einsum("bk,bkd->bd", w_t, dict_t[idx])
    f_s = torch.einsum("bk,bkd->bd", w_s, dict_s[idx])
    return torch.cat([f_t, f_s], 1)


def class_loss(logits, c, kind, gamma=2.0, margins=None, s=30.0):
    n = logits.shape[1]
    onehot = F.one_hot(c, n).to(logits.dtype)
    if kind == "mse":
        return ((torch.softmax(logits, 1) - onehot) ** 2).sum(1).mean()
    if kind == "ce":
        return F.cross_entropy(logits, c)
    if kind == "focal":
        logp = F.log_softmax(logits, 1).gather(1, c[:, None])[:, 0]
        return (-((1 - logp.exp()) ** gamma) * logp).mean()
    if kind == "ldam":
        return F.cross_entropy(s * (logits - margins[None, :] * onehot), c)
    raise ValueError(f"unknown class loss {kind}")


def gen_loss(q_logits, d_out, c, majority, lam):
    """Eq. 4: q_c² + Σ_{j ≠ c, j ≠ c_m} (1 − q_j)², plus λ(1 − D)², means over the batch."""
    q = torch.softmax(q_logits, 1)
    n = q.shape[1]
    target = F.one_hot(c, n).bool()
    keep = torch.ones_like(q, dtype=torch.bool)
    keep[:, majority] = False
    push_up = keep & ~target
    per = (q**2 * target).sum(1) + ((1 - q) ** 2 * push_up).sum(1)
    return per.mean() + lam * ((1 - d_out[:, 0]) ** 2).mean()


# ---- the oracle ----------------------------------------------------------------------------------


def rel_err(got, want):
    got = got.detach().to(torch.float64).reshape(-1)
    want = want.detach().to(torch.float64).reshape(-1)
    if got.shape != want.shape:
        return {"rel_err": float("inf"), "worst": -1, "got": float("nan"), "want": float("nan")}
    diff = (got - want).abs()
    denom = want.norm()
    err = (got - want).norm() / denom if denom > 0 else diff.max() if diff.numel() else torch.tensor(0.0)
    if not torch.isfinite(got).all():
        err = torch.tensor(float("inf"))
    worst = int(diff.argmax()) if diff.numel() else 0
    return {
        "rel_err": float(err),
        "worst": worst,
        "got": float(got[worst]) if diff.numel() else 0.0,
        "want": float(want[worst]) if diff.numel() else 0.0,
    }


def check(path):
    meta, t = load_safetensors(path)
    if meta.get("format") != "convexgan-phase2-probe-v1":
        raise SystemExit(f"{path}: not a convexgan-phase2-probe-v1 fixture")
    f64 = torch.float64
    nets = json.loads(meta["nets"])  # {"g": [[name, act], ...], "d": ..., "q": ...}
    ns, classes = int(meta["ns"]), int(meta["classes"])
    majority, lam, slope = int(meta["majority"]), float(meta["lambda"]), float(meta["leaky_slope"])
    kind = meta["q_loss"]
    gamma, s_ldam = float(meta["focal_gamma"]), float(meta["ldam_s"])
    lr, b1, b2, eps = (float(meta[k]) for k in ("lr", "beta1", "beta2", "eps"))
    margins = t["margins"].to(f64) if "margins" in t else None
    dict_t, dict_s = t["dict.texture"].to(f64), t["dict.shape"].to(f64)
    inp = {k[3:]: v for k, v in t.items() if k.startswith("in.")}
    for k in ("z_r", "z_g"):
        inp[k] = inp[k].to(f64)
    results = []

    def weights(step, which):
        prefix = f"{step}.{which}."
        return {k[len(prefix) :]: v.to(f64) for k, v in t.items() if k.startswith(prefix)}

    def compare(step, loss, net_w, grads):
        results.append({"name": f"{step}.loss", "kind": "loss", **rel_err(t[f"{step}.loss"], loss)})
        for name, g in grads.items():
            results.append({"name": f"{step}.grad.{name}", "kind": "grad", **rel_err(t[f"{step}.grad.{name}"], g)})
        # Adam, independently: torch.optim.Adam applied to *our* gradients from *our* moments.
        step_no = int(meta[f"{step}.adam_step"])
        params = {n: w.clone().requires_grad_(True) for n, w in net_w.items()}
        opt = torch.optim.Adam(params.values(), lr=lr, betas=(b1, b2), eps=eps, foreach=False)
        for n, p in params.items():
            p.grad = t[f"{step}.grad.{n}"].to(f64).clone()
            opt.state[p] = {
                "step": torch.tensor(float(step_no - 1)),
                "exp_avg": t[f"{step}.m.{n}"].to(f64).clone(),
                "exp_avg_sq": t[f"{step}.v.{n}"].to(f64).clone(),
            }
        opt.step()
        for n, p in params.items():
            results.append({"name": f"{step}.adam.{n}", "kind": "adam", **rel_err(t[f"{step}.post.{n}"], p)})

    def grads_of(loss, w):
        names = list(w)
        gs = torch.autograd.grad(loss, [w[n] for n in names])
        return dict(zip(names, gs))

    def leaf(w):
        return {n: v.clone().requires_grad_(True) for n, v in w.items()}

    c_r, c_g = inp["c_r"], inp["c_g"]
    onehot_r = F.one_hot(c_r, classes).to(f64)
    onehot_g = F.one_hot(c_g, classes).to(f64)
    real = torch.cat([dict_t[inp["real_t"]], dict_s[inp["real_s"]]], 1)

    # 1. Q on real samples.
    w = leaf(weights("q_real", "pre"))
    loss = class_loss(mlp(real, nets["q"], w, slope), c_r, kind, gamma, margins, s_ldam)
    compare("q_real", loss, weights("q_real", "pre"), grads_of(loss, w))
    # 2. D on real samples, target 1.
    w = leaf(weights("d_real", "pre"))
    loss = ((1 - mlp(torch.cat([real, onehot_r], 1), nets["d"], w, slope)) ** 2).mean()
    compare("d_real", loss, weights("d_real", "pre"), grads_of(loss, w))
    # Generated samples of the same classes with G fixed (G's weights are those before its update).
    g0 = weights("g", "pre")
    with torch.no_grad():
        fake = generate(nets["g"], g0, slope, inp["z_r"], onehot_r, inp["rows_r"], dict_t, dict_s, ns)
    # 3. Q on generated samples.
    w = leaf(weights("q_fake", "pre"))
    loss = class_loss(mlp(fake, nets["q"], w, slope), c_r, kind, gamma, margins, s_ldam)
    compare("q_fake", loss, weights("q_fake", "pre"), grads_of(loss, w))
    # 4. D on generated samples, target 0.
    w = leaf(weights("d_fake", "pre"))
    loss = (mlp(torch.cat([fake, onehot_r], 1), nets["d"], w, slope) ** 2).mean()
    compare("d_fake", loss, weights("d_fake", "pre"), grads_of(loss, w))
    # 5. G against Q and D as they are after their updates.
    q1, d1 = weights("q_fake", "post"), weights("d_fake", "post")
    w = leaf(g0)
    fake_g = generate(nets["g"], w, slope, inp["z_g"], onehot_g, inp["rows_g"], dict_t, dict_s, ns)
    q_logits = mlp(fake_g, nets["q"], q1, slope)
    d_out = mlp(torch.cat([fake_g, onehot_g], 1), nets["d"], d1, slope)
    loss = gen_loss(q_logits, d_out, c_g, majority, lam)
    compare("g", loss, g0, grads_of(loss, w))

    print(json.dumps({"torch": torch.__version__, "results": results}))


# ---- the speed peer ------------------------------------------------------------------------------

SIZES = {
    # batch, N_s, d_t = d_s, classes, z, G hidden, D hidden, Q hidden, n_max, imbalance, rows cap
    "fmnist": dict(batch=256, ns=30, d=128, classes=10, z=256, g=(512, 1024), dh=(1024, 512),
                   q=256, n_max=5000, ratio=100.0, cap=2000),
    "paper": dict(batch=256, ns=100, d=1024, classes=50, z=256, g=(512, 1024), dh=(1024, 512),
                  q=1024, n_max=5000, ratio=50.0, cap=400),
}


def bench(args):
    sz = SIZES[args.size]
    dev = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rnd = random.Random(0)
    B, ns, d, C, zd = sz["batch"], sz["ns"], sz["d"], sz["classes"], sz["z"]
    counts = [math.floor(sz["n_max"] * sz["ratio"] ** (-c / (C - 1))) for c in range(C)]
    rows = [min(n, sz["cap"]) for n in counts]
    offsets = [sum(rows[:c]) for c in range(C)]
    total = sum(rows)
    dict_t = torch.rand(total, d, device=dev)
    dict_s = torch.rand(total, d, device=dev)
    majority = max(range(C), key=lambda c: (counts[c], -c))
    weights_g = [counts[majority] - n for n in counts]

    def draw():
        c_r = [rnd.randrange(C) for _ in range(B)]
        rows_r = [offsets[c] + i for c in c_r for i in rnd.sample(range(rows[c]), ns)]
        real_t = [rows_r[b * ns + rnd.randrange(ns)] for b in range(B)]
        real_s = [rows_r[b * ns + rnd.randrange(ns)] for b in range(B)]
        c_g = rnd.choices(range(C), weights=weights_g, k=B)
        rows_g = [offsets[c] + i for c in c_g for i in rnd.sample(range(rows[c]), ns)]
        li = lambda v: torch.tensor(v, dtype=torch.int64, device=dev)
        return dict(c_r=li(c_r), rows_r=li(rows_r).reshape(B, ns), real_t=li(real_t), real_s=li(real_s),
                    z_r=torch.randn(B, zd, device=dev), c_g=li(c_g), rows_g=li(rows_g).reshape(B, ns),
                    z_g=torch.randn(B, zd, device=dev))

    # Inputs are drawn ahead (a pool cycled through), so the peer's time excludes the sampling that
    # ours includes: the comparison leans toward PyTorch.
    pool = [draw() for _ in range(4)]

    def lin_stack(d_in, widths, d_out, act):
        layers, w = [], d_in
        for h in widths:
            layers += [torch.nn.Linear(w, h), act()]
            w = h
        layers.append(torch.nn.Linear(w, d_out))
        return torch.nn.Sequential(*layers).to(dev)

    leaky = lambda: torch.nn.LeakyReLU(0.2)
    G = lin_stack(zd + C, sz["g"], 2 * ns, leaky)
    D = lin_stack(2 * d + C, sz["dh"], 1, leaky)
    Q = lin_stack(2 * d, (sz["q"],), C, torch.nn.ReLU)
    opts = {n: torch.optim.Adam(m.parameters(), lr=1e-4) for n, m in (("g", G), ("d", D), ("q", Q))}

    def gen(z, onehot, rows_):
        logits = G(torch.cat([z, onehot], 1))
        w_t = torch.softmax(logits[:, :ns], 1)
        w_s = torch.softmax(logits[:, ns:], 1)
        f_t = torch.einsum("bk,bkd->bd", w_t, dict_t[rows_])
        f_s = torch.einsum("bk,bkd->bd", w_s, dict_s[rows_])
        return torch.cat([f_t, f_s], 1)

    def q_loss(x, c):
        return ((torch.softmax(Q(x), 1) - F.one_hot(c, C).to(x.dtype)) ** 2).sum(1).mean()

    def d_loss(x, onehot, target):
        return ((target - D(torch.cat([x, onehot], 1))) ** 2).mean()

    def g_loss(z, onehot, rows_, c):
        fake = gen(z, onehot, rows_)
        return gen_loss(Q(fake), D(torch.cat([fake, onehot], 1)), c, majority, 1000.0)

    g_params = list(G.parameters())

    def make_iteration(q_loss, d_loss, gen, g_loss):
        def iteration(it, inp):
            d_turn = it % 5 == 0
            onehot_r = F.one_hot(inp["c_r"], C).float()
            real = torch.cat([dict_t[inp["real_t"]], dict_s[inp["real_s"]]], 1)

            def update(name, loss):
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()

            update("q", q_loss(real, inp["c_r"]))
            if d_turn:
                update("d", d_loss(real, onehot_r, 1.0))
            with torch.no_grad():
                fake = gen(inp["z_r"], onehot_r, inp["rows_r"])
            update("q", q_loss(fake, inp["c_r"]))
            if d_turn:
                update("d", d_loss(fake, onehot_r, 0.0))
            onehot_g = F.one_hot(inp["c_g"], C).float()
            lg = g_loss(inp["z_g"], onehot_g, inp["rows_g"], inp["c_g"])
            # Only G's gradients: Q and D are differentiated through, not updated.
            for p, gr in zip(g_params, torch.autograd.grad(lg, g_params)):
                p.grad = gr
            opts["g"].step()

        return iteration

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def measure(iteration, seconds):
        t0 = time.perf_counter()
        for it in range(5):  # warm-up, and torch.compile's compilations
            iteration(it, pool[it % len(pool)])
        sync()
        warm = time.perf_counter() - t0
        # Whole D cycles of 5, at least 10 iterations, about `seconds` long.
        t0 = time.perf_counter()
        for it in range(5):
            iteration(it, pool[it % len(pool)])
        sync()
        per = (time.perf_counter() - t0) / 5
        n = max(10, int(math.ceil(seconds / max(per, 1e-6) / 5)) * 5)
        t0 = time.perf_counter()
        for it in range(n):
            iteration(it, pool[it % len(pool)])
        sync()
        return n / (time.perf_counter() - t0), n, warm

    out = {"torch": torch.__version__, "size": args.size, "device": str(dev),
           "threads": torch.get_num_threads()}
    if dev.type == "cuda":
        out["card"] = torch.cuda.get_device_name(dev)
    modes = args.modes.split(",")
    if "eager" in modes:
        its, n, warm = measure(make_iteration(q_loss, d_loss, gen, g_loss), args.seconds)
        out["eager"] = {"its_per_s": its, "iters": n, "warmup_s": warm}
    if "compile" in modes:
        try:
            c = lambda f: torch.compile(f, dynamic=False)
            its, n, warm = measure(make_iteration(c(q_loss), c(d_loss), c(gen), c(g_loss)), args.seconds)
            out["compile"] = {"its_per_s": its, "iters": n, "warmup_s": warm}
        except Exception as e:  # noqa: BLE001 — a failed compile is a result to report, not a crash
            out["compile"] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", metavar="FILE", help="gradient oracle on a fixture")
    ap.add_argument("--bench", action="store_true", help="speed peer")
    ap.add_argument("--size", choices=sorted(SIZES), default="fmnist")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--seconds", type=float, default=3.0, help="measured time per mode")
    ap.add_argument("--modes", default="eager,compile")
    args = ap.parse_args()
    if args.check:
        check(args.check)
    elif args.bench:
        bench(args)
    else:
        ap.error("one of --check FILE or --bench")


if __name__ == "__main__":
    main()
