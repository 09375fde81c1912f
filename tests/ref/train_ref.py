#!/usr/bin/python3
"""Independent numpy restatements of clippo-train's maths, for the unit tests.

  train_ref.py loss DIR       za.npy zb.npy t.npy -> loss.npy dza.npy dzb.npy dt.npy
  train_ref.py adafactor DIR  p_*.npy, g_*_<step>.npy, sched.npy, hp.npy -> out_p_*.npy, out_vr_*/out_vc_*/out_v_*/out_mu_*.npy
  train_ref.py adamw DIR      the same inputs (hp: lr, wd, clip, beta1, steps) -> out_p_*.npy, out_m_*/out_v_*.npy
  train_ref.py schedule DIR   spec.npy -> values.npy

Formulas follow big_vision (optax scale_by_factored_rms, ema in bfloat16
without debiasing, clip_by_global_norm, add_decayed_weights on kernels,
create_learning_rate_schedule), written out by hand in float32.
"""
import glob
import os
import sys

import numpy as np

f32 = np.float32


def load(d, n):
    return np.load(os.path.join(d, n + ".npy"))


def save(d, n, a):
    np.save(os.path.join(d, n + ".npy"), np.ascontiguousarray(a))


def bf16(x):
    """Round float32 to bfloat16 (nearest even), returned as float32."""
    u = np.ascontiguousarray(x, dtype=f32).view(np.uint32).astype(np.uint64)
    u = (u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))) & np.uint64(0xFFFF0000)
    return u.astype(np.uint32).view(f32)


# ---- contrastive loss ---------------------------------------------------------

def loss(d):
    za, zb, t = load(d, "za").astype(np.float64), load(d, "zb").astype(np.float64), float(load(d, "t")[0])
    n = za.shape[0]
    s = np.exp(t)
    logits = s * za @ zb.T

    def ce(x):  # mean over rows of -log softmax(x)[i, i], and d/dx of the row sum
        m = x.max(1, keepdims=True)
        p = np.exp(x - m)
        p /= p.sum(1, keepdims=True)
        val = -np.log(p[np.arange(n), np.arange(n)]).sum()
        g = p.copy()
        g[np.arange(n), np.arange(n)] -= 1
        return val, g

    l1, g1 = ce(logits)      # image -> text rows
    l2, g2 = ce(logits.T)    # text -> image rows
    total = (l1 + l2) / (2 * n)
    dlogits = (g1 + g2.T) / (2 * n)
    dza = s * dlogits @ zb
    dzb = s * dlogits.T @ za
    dt = (dlogits * logits).sum()
    save(d, "loss", np.array([total], f32))
    save(d, "dza", dza.astype(f32))
    save(d, "dzb", dzb.astype(f32))
    save(d, "dt", np.array([dt], f32))


# ---- Adafactor ----------------------------------------------------------------

def factored_dims(shape, min_dim):
    if len(shape) < 2:
        return None
    order = sorted(range(len(shape)), key=lambda i: shape[i])  # stable, as numpy's argsort on few items
    if shape[order[-2]] < min_dim:
        return None
    return order[-2], order[-1]


def adafactor(d):
    hp = load(d, "hp")  # lr, wd, clip, momentum, decay_rate, beta2_cap, eps, min_dim, steps
    lr, wd, clip, mom, decay, cap, eps = (f32(x) for x in hp[:7])
    one_minus_mom = f32(1.0 - float(hp[3]))  # computed in Python floats, as optax does
    min_dim, steps = int(hp[7]), int(hp[8])
    sched = load(d, "sched")
    names = sorted(os.path.basename(p)[2:-4] for p in glob.glob(os.path.join(d, "p_*.npy")))
    p = {n: load(d, "p_" + n).astype(f32) for n in names}
    st = {}
    for n in names:
        fd = factored_dims(p[n].shape, min_dim)
        if fd:
            d1, d0 = fd
            st[n] = dict(vr=np.zeros(np.delete(p[n].shape, d0), f32), vc=np.zeros(np.delete(p[n].shape, d1), f32))
        else:
            st[n] = dict(v=np.zeros(p[n].shape, f32))
        st[n]["mu"] = np.zeros(p[n].shape, f32)
    for k in range(steps):
        g = {n: load(d, f"g_{n}_{k}").astype(f32) for n in names}
        norm = np.sqrt(sum(float((g[n].astype(np.float64) ** 2).sum()) for n in names))
        if clip > 0 and not norm < clip:
            g = {n: (g[n] / f32(norm) * clip).astype(f32) for n in names}
        t = f32(k + 1)
        beta2 = f32(min(cap, f32(1) - t ** f32(-decay)))
        for n in names:
            s, gn = st[n], g[n]
            gs = gn * gn + eps
            fd = factored_dims(gn.shape, min_dim)
            if fd:
                d1, d0 = fd
                s["vr"] = beta2 * s["vr"] + (f32(1) - beta2) * gs.mean(axis=d0)
                s["vc"] = beta2 * s["vc"] + (f32(1) - beta2) * gs.mean(axis=d1)
                rd1 = d1 - 1 if d1 > d0 else d1
                rf = (s["vr"] / s["vr"].mean(axis=rd1, keepdims=True)) ** f32(-0.5)
                cf = s["vc"] ** f32(-0.5)
                u = gn * np.expand_dims(rf, d0) * np.expand_dims(cf, d1)
            else:
                s["v"] = beta2 * s["v"] + (f32(1) - beta2) * gs
                u = gn * s["v"] ** f32(-0.5)
            if mom > 0:
                # JAX: the Python decay becomes bf16, the product is rounded to bf16.
                u = one_minus_mom * u + bf16(bf16(mom) * s["mu"])
                s["mu"] = bf16(u)
            upd = lr * u
            if n.endswith("kernel"):
                upd = upd + wd * p[n]
            p[n] = (p[n] - f32(sched[k]) * upd).astype(f32)
    for n in names:
        save(d, "out_p_" + n, p[n])
        for key, a in st[n].items():
            save(d, f"out_{key}_{n}", a.astype(f32))


def adamw(d):
    """Adam with bias correction (beta2 0.999, eps 1e-8), and big_vision's
    decoupled decay: kernels shrink by sched * wd, not by sched * lr * wd."""
    hp = load(d, "hp")
    lr, wd, clip, b1 = (float(x) for x in hp[:4])
    steps, b2, eps = int(hp[4]), 0.999, 1e-8
    sched = load(d, "sched")
    names = sorted(os.path.basename(p)[2:-4] for p in glob.glob(os.path.join(d, "p_*.npy")))
    p = {n: load(d, "p_" + n).astype(np.float64) for n in names}
    m = {n: np.zeros_like(p[n]) for n in names}
    v = {n: np.zeros_like(p[n]) for n in names}
    for k in range(steps):
        g = {n: load(d, f"g_{n}_{k}").astype(np.float64) for n in names}
        norm = np.sqrt(sum((g[n] ** 2).sum() for n in names))
        if clip > 0 and norm > clip:
            g = {n: g[n] * (clip / norm) for n in names}
        t = k + 1
        for n in names:
            m[n] = b1 * m[n] + (1 - b1) * g[n]
            v[n] = b2 * v[n] + (1 - b2) * g[n] ** 2
            u = (m[n] / (1 - b1 ** t)) / (np.sqrt(v[n] / (1 - b2 ** t)) + eps)
            decay = wd * p[n] if n.endswith("kernel") else 0
            p[n] = p[n] - sched[k] * (lr * u + decay)
    for n in names:
        save(d, "out_p_" + n, p[n].astype(f32))
        save(d, "out_m_" + n, m[n].astype(f32))
        save(d, "out_v_" + n, v[n].astype(f32))


# ---- schedules ----------------------------------------------------------------

def schedule(d):
    kind, total, warm, cool, timescale, end = load(d, "spec")
    kind, total, warm, cool = int(kind), int(total), int(warm), int(cool)
    out = []
    for step in range(total + 1):
        lr = 1.0
        progress = min(max((step - warm) / (total - warm), 0.0), 1.0)
        if kind == 1:    # linear
            lr = end + (lr - end) * (1 - progress)
        elif kind == 2:  # cosine
            lr = lr * 0.5 * (1 + np.cos(np.pi * progress))
        elif kind == 0:  # rsqrt
            shift = timescale - warm
            lr = lr / np.sqrt((step + shift) / timescale) if warm < step else lr
        if warm:
            lr = lr * min(1.0, step / warm)
        if cool:
            lr = lr * min(1.0, (total - step) / cool)
        out.append(lr)
    save(d, "values", np.array(out, np.float64))


if __name__ == "__main__":
    {"loss": loss, "adafactor": adafactor, "adamw": adamw, "schedule": schedule}[sys.argv[1]](sys.argv[2])
