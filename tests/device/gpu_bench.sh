#!/usr/bin/env bash
# GPU figures, side by side in one run: clippo-embed's model on B/16 at 224
# (random weights in the real layout) against torchvision's vit_b_16 on the
# same GPU (fp32, and bf16 under autocast), the measured bf16 matmul peak, and
# the whole pipeline from JPEG files against pre-decoded inputs.
#   tests/device/gpu_bench.sh BUILD_DIR      (needs python3 with torch, torchvision)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
E="$(cd "$1" && pwd)/tools/clippo-embed"
N=${N:-2048}
BATCH=${BATCH:-256}
T=$(mktemp -d /tmp/clippo-gpu-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
PY=${CLIPPO_PYTHON:-python3}
echo "machine: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(nproc) cores; N $N, batch $BATCH"
$PY "$src/tests/ref/model_ref.py" make-ckpt B/16 224 768 b16.npz
$PY - "$N" "$BATCH" <<'PYEOF'
import sys, time, torch, torchvision
n, batch = map(int, sys.argv[1:3])
torch.backends.cuda.matmul.allow_tf32 = False
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
torch.mm(a, a); torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(10): torch.mm(a, a)
torch.cuda.synchronize()
print(f"peak bf16 matmul: {2 * 8192**3 * 10 / (time.perf_counter() - t) / 1e12:.0f} TFLOP/s")
model = torchvision.models.vit_b_16().eval().cuda()
x = torch.rand(batch, 3, 224, 224, device="cuda") * 2 - 1
for name, ac in (("fp32", False), ("bf16", True)):
    with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=ac):
        model(x); torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(n // batch): model(x)
        torch.cuda.synchronize()
    print(f"torchvision vit_b_16 {name}: {n // batch * batch / (time.perf_counter() - t):.0f} images/s")
# JPEGs for the pipeline figure (photo-sized, 500x375).
import os
os.makedirs("jpegs", exist_ok=True)
torch.manual_seed(0)
for i in range(1024):
    im = torch.nn.functional.interpolate(torch.rand(1, 3, 24, 32), size=(375, 500), mode="bilinear")[0]
    im = (im * 255 + torch.randint(0, 20, im.shape)).clamp(0, 255).to(torch.uint8)
    torchvision.io.write_jpeg(im, f"jpegs/{i:05d}.jpg", quality=90)
PYEOF
for p in fp32 bf16; do
  echo "clippo-embed $p, pre-decoded: $("$E" b16.npz --benchmark "$N" --device cuda --precision $p --batch-size "$BATCH" | awk '$1 == "images_per_s" {printf "%.0f images/s", $2}')"
done
# Whole runs over 1,024 JPEGs and over the first batch alone: the difference
# is the steady state without start-up (model load, CUDA context).
mkdir first && cp $(ls jpegs/*.jpg | head -n "$BATCH") first/
for p in fp32 bf16; do
  t0=$(date +%s.%N); "$E" b16.npz first/ --npy f.npy --device cuda --precision $p --batch-size "$BATCH" -q
  t1=$(date +%s.%N); "$E" b16.npz jpegs/ --npy j.npy --device cuda --precision $p --batch-size "$BATCH" -q
  t2=$(date +%s.%N)
  echo "clippo-embed $p, JPEG from disk: $($PY -c "print(round((1024 - $BATCH) / (($t2 - $t1) - ($t1 - $t0))))") images/s (steady state)"
done
