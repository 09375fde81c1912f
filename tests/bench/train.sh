#!/usr/bin/env bash
# Training throughput: clippo-train (C++ libtorch, reading and decoding shards,
# rendering text on worker threads) against the same model and step written in
# Python PyTorch (Debian's python3-torch, synthetic tensors: no data loading),
# same threads. Prints samples/s (image/text pairs per second) and the split of
# a step into data, forward, backward and optimizer for both.
# In float32, then with both under bf16 autocast (bfloat16 matmuls).
#   BENCH_VARIANT (Ti/16) BENCH_RES (64) BENCH_BATCH (256) BENCH_STEPS (8) BENCH_THREADS (nproc)
#   BENCH_PRECISION ("fp32 bf16")
set -euo pipefail
. "$CLIPPO_SOURCE/tests/deps.sh"
clippo_install_deps "${CLIPPO_BENCH_DEPS[@]}" >&2
PY=/usr/bin/python3
VARIANT=${BENCH_VARIANT:-Ti/16} RES=${BENCH_RES:-64} BATCH=${BENCH_BATCH:-256} STEPS=${BENCH_STEPS:-8}
THREADS=${BENCH_THREADS:-$(nproc)} PRECISIONS=${BENCH_PRECISION:-fp32 bf16}
T=$(mktemp -d /tmp/clippo-bench-train.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"

echo "machine: $(lscpu | grep 'Model name' | sed 's/.*: *//'), $(nproc) cores; threads $THREADS"
echo "model: $VARIANT at $RES px, batch $BATCH pairs, $STEPS steps (first one excluded)"

# 1024 random 96x96 JPEG-free PNG images with short captions.
$PY - <<'PYEOF'
import os, struct, zlib
import numpy as np
rng = np.random.default_rng(0)
os.makedirs("img", exist_ok=True)
def png(a):
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))
    ch = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + ch(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + ch(b"IDAT", zlib.compress(raw, 1)) + ch(b"IEND", b"")
with open("caps.tsv", "w") as f:
    for i in range(1024):
        open(f"img/{i:04d}.png", "wb").write(png(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)))
        f.write(f"{i:04d}.png\ta photo of thing number {i} in the benchmark set\n")
PYEOF
clippo-pack -q --images img --captions caps.tsv -o 'b-{0..3}.shard'

# --- Python PyTorch: the same model, loss and optimizer step -----------------------
cat >ref.py <<'PYEOF'
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F
variant, res, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
bf16 = sys.argv[6] == "bf16"
torch.set_num_threads(threads)
sizes = {"mu": (32, 1, 128, 2), "Ti": (192, 12, 768, 3), "S": (384, 12, 1536, 6), "B": (768, 12, 3072, 12)}
name, patch = variant.split("/")
D, depth, M, H = sizes[name]
patch = int(patch)
L = (res // patch) ** 2

class Attn(nn.Module):
    def __init__(s):
        super().__init__()
        s.q, s.k, s.v, s.o = (nn.Linear(D, D) for _ in range(4))
    def forward(s, xq, xkv):
        B, Lq, Lk, hd = xq.shape[0], xq.shape[1], xkv.shape[1], D // H
        q = s.q(xq).view(B, Lq, H, hd).transpose(1, 2) / math.sqrt(hd)
        k = s.k(xkv).view(B, Lk, H, hd).transpose(1, 2)
        v = s.v(xkv).view(B, Lk, H, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2), -1) @ v
        return s.o(a.transpose(1, 2).reshape(B, Lq, D))

class Mlp(nn.Module):
    def __init__(s):
        super().__init__()
        s.a, s.b = nn.Linear(D, M), nn.Linear(M, D)
    def forward(s, x):
        return s.b(F.gelu(s.a(x), approximate="tanh"))

class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.n1, s.n2, s.attn, s.mlp = nn.LayerNorm(D, eps=1e-6), nn.LayerNorm(D, eps=1e-6), Attn(), Mlp()
    def forward(s, x):
        y = s.n1(x)
        x = x + s.attn(y, y)
        return x + s.mlp(s.n2(x))

class OneTower(nn.Module):
    def __init__(s):
        super().__init__()
        s.stem = nn.Conv2d(3, D, patch, patch)
        s.pos = nn.Parameter(torch.randn(1, L, D) / math.sqrt(D))
        s.blocks = nn.ModuleList(Block() for _ in range(depth))
        s.norm = nn.LayerNorm(D, eps=1e-6)
        s.probe = nn.Parameter(torch.randn(1, 1, D) * 0.02)
        s.map_attn, s.map_norm, s.map_mlp = Attn(), nn.LayerNorm(D, eps=1e-6), Mlp()
        s.head = nn.Linear(D, D)
        s.t = nn.Parameter(torch.tensor([math.log(10.0)]))
    def forward(s, img):
        x = s.stem(img).flatten(2).transpose(1, 2) + s.pos
        for b in s.blocks:
            x = b(x)
        x = s.norm(x)
        # float(): as the residual stream elsewhere (under bf16 autocast LayerNorm would get bf16)
        a = s.map_attn(s.probe.expand(x.shape[0], 1, D), x).float()
        a = a + s.map_mlp(s.map_norm(a))
        z = s.head(a[:, 0])
        return z / (z.norm(dim=-1, keepdim=True) + 1e-8)

def loss_fn(za, zb, t):
    logits = t.exp() * za @ zb.T
    y = torch.arange(za.shape[0])
    return (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y)) / 2

class Adafactor:
    """big_vision's: clip 1.0, factored second moments, bf16 momentum, decoupled wd on matrices."""
    def __init__(s, params, lr=1e-3, wd=1e-4):
        s.p, s.lr, s.wd, s.n = list(params), lr, wd, 0
        s.st = []
        for p in s.p:
            dims = sorted(range(p.dim()), key=lambda i: p.shape[i])
            f = p.dim() >= 2 and p.shape[dims[-2]] >= 32
            st = {"mu": torch.zeros_like(p, dtype=torch.bfloat16)}
            if f:
                d1, d0 = dims[-2], dims[-1]
                st.update(d=(d1, d0), vr=p.new_zeros(p.shape).mean(d0), vc=p.new_zeros(p.shape).mean(d1))
            else:
                st["v"] = torch.zeros_like(p)
            s.st.append(st)
    @torch.no_grad()
    def step(s):
        gs = [p.grad for p in s.p]
        norm = torch.sqrt(sum((g * g).sum() for g in gs))
        scale = min(1.0, 1.0 / max(norm.item(), 1e-30))
        beta2 = min(0.999, 1 - (s.n + 1) ** -0.8)
        for p, g, st in zip(s.p, gs, s.st):
            g = g * scale
            g2 = g * g + 1e-30
            if "d" in st:
                d1, d0 = st["d"]
                st["vr"].mul_(beta2).add_(g2.mean(d0), alpha=1 - beta2)
                st["vc"].mul_(beta2).add_(g2.mean(d1), alpha=1 - beta2)
                rd1 = d1 - 1 if d1 > d0 else d1
                u = g * (st["vr"] / st["vr"].mean(rd1, keepdim=True)).rsqrt().unsqueeze(d0) * st["vc"].rsqrt().unsqueeze(d1)
            else:
                st["v"].mul_(beta2).add_(g2, alpha=1 - beta2)
                u = g * st["v"].rsqrt()
            u = 0.1 * u + (st["mu"] * 0.9).float()
            st["mu"].copy_(u)
            u = s.lr * u
            if p.dim() >= 2:
                u = u + s.wd * p
            p.sub_(u)
        s.n += 1

torch.manual_seed(0)
model = OneTower()
opt = Adafactor(model.parameters())
img = torch.rand(batch, 3, res, res) * 2 - 1
txt = torch.rand(batch, 3, res, res) * 2 - 1
tf = tb = to = 0.0
for k in range(steps + 1):
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        z = model(torch.cat([img, txt]))
    z = z.float()
    loss = loss_fn(z[:batch], z[batch:], model.t)
    t1 = time.perf_counter()
    model.zero_grad()
    loss.backward()
    t2 = time.perf_counter()
    opt.step()
    t3 = time.perf_counter()
    if k > 0:
        tf, tb, to = tf + t1 - t0, tb + t2 - t1, to + t3 - t2
step = (tf + tb + to) / steps
print(f"{batch / step:.2f} 0.0000 {tf / steps:.4f} {tb / steps:.4f} {to / steps:.4f}")
PYEOF
# --- clippo-train against it, in each precision -------------------------------------
for p in $PRECISIONS; do
  echo
  echo "precision $p$([ "$p" = bf16 ] && echo ' (bfloat16 autocast on both sides)')"
  clippo-train -q --data 'b-{0..3}.shard' --workdir "run-$p" --variant "$VARIANT" --res "$RES" --batch-size "$BATCH" \
    --steps "$((STEPS + 1))" --log-every 1 --checkpoint-every 0 --threads "$THREADS" --shuffle-buffer 256 \
    --precision "$p"
  $PY - "$STEPS" "run-$p" <<'PYEOF' >cpp.txt
import json, sys
m = [json.loads(l) for l in open(sys.argv[2] + "/metrics.jsonl")][1:]  # the first step warms up
n = len(m)
f = lambda k: sum(r[k] for r in m) / n
step = f("data_s") + f("forward_s") + f("backward_s") + f("optimizer_s")
print(f"{sum(r['samples_per_s'] for r in m) / n:.2f} {f('data_s'):.4f} {f('forward_s'):.4f} {f('backward_s'):.4f} {f('optimizer_s'):.4f}")
PYEOF

  $PY ref.py "$VARIANT" "$RES" "$BATCH" "$STEPS" "$THREADS" "$p" >py.txt
  read -r cs cd cf cb co <cpp.txt
  read -r ps pd pf pb po <py.txt
  printf '%-22s %12s %9s %9s %9s %9s\n' "" "samples/s" "data s" "fwd s" "bwd s" "opt s"
  printf '%-22s %12s %9s %9s %9s %9s\n' "clippo-train (C++)" "$cs" "$cd" "$cf" "$cb" "$co"
  printf '%-22s %12s %9s %9s %9s %9s\n' "PyTorch (Python)" "$ps" "$pd" "$pf" "$pb" "$po"
  echo "ratio clippo-train / PyTorch ($p): $($PY -c "print(f'{$cs / $ps:.2f}x')")"
done
