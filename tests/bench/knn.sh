#!/usr/bin/env bash
# clippo-knn benchmark: exact search over 200k x 768 vectors with 1,000
# queries, side by side with FAISS IndexFlatIP (Debian python3-faiss) at the
# same thread count; then an IVF index: build time, memory, and the speed-up
# over exact search at recall@10 >= 0.95.
#   KNN_N=200000 KNN_DIM=768 KNN_NQ=1000 KNN_THREADS=$(nproc) KNN_IVF=IVF1024,Flat
#   KNN_DATA=clustered (2000 tight clusters: IVF's easy case) or lowdim (a
#   16-dimensional latent space mapped to DIM plus noise: neighbours spread
#   over many IVF cells, a hard case)
set -euo pipefail
. "$CLIPPO_SOURCE/tests/deps.sh"
clippo_install_deps python3-faiss python3-numpy
PY=/usr/bin/python3
DATA=${KNN_DATA:-clustered} N=${KNN_N:-200000} DIM=${KNN_DIM:-768} NQ=${KNN_NQ:-1000} TH=${KNN_THREADS:-$(nproc)} IVF=${KNN_IVF:-IVF1024,Flat}
export OMP_NUM_THREADS=$TH OPENBLAS_NUM_THREADS=$TH
W=$(mktemp -d /tmp/clippo-bench-knn.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
echo "machine: $(lscpu | grep 'Model name' | sed 's/Model name: *//'), $(nproc) cores; threads $TH"
echo "data ($DATA): $N x $DIM float16 unit vectors, $NQ queries from the same distribution"

# Clustered unit vectors as an embedding model gives them, stored float16.
$PY - "$N" "$DIM" "$NQ" "$DATA" <<'PYEOF'
import io, sys, tarfile
import numpy as np
n, dim, nq = map(int, sys.argv[1:4])
rng = np.random.default_rng(0)
if sys.argv[4] == "lowdim":
    A = rng.standard_normal((16, dim)).astype(np.float32)
    def raw(m):
        z = rng.standard_normal((m, 16)).astype(np.float32)
        return z @ A + rng.normal(scale=0.5 / np.sqrt(dim) * 4, size=(m, dim)).astype(np.float32)
else:
    centres = rng.standard_normal((2000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    def raw(m):
        return centres[rng.integers(0, len(centres), m)] + rng.normal(scale=1.0 / np.sqrt(dim), size=(m, dim)).astype(np.float32)
def sample(m):
    x = raw(m)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
db, q = sample(n), sample(nq)
np.save("db.npy", db)
np.save("q.npy", q)
def shard(path, x, prefix):
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("__clippo__.json", b'{"format":1,"tool":"bench","model":{"path":"none.npz","sha256":"bench"}}')
        for i, v in enumerate(x):
            b = io.BytesIO()
            np.save(b, v)
            add(f"{prefix}{i:07d}.img.npy" if prefix == "r" else f"{prefix}{i:07d}.txt.npy", b.getvalue())
shard("db.shard", db, "r")
shard("q.shard", q, "q")
PYEOF
ls -l db.shard | awk '{printf "database shard: %.0f MB\n", $5 / 1e6}'

rate() { sed -n 's/.* in \([0-9.]*\) s: \([0-9.]*\) queries\/s.*/\2/p' "$1" | tail -1; }
rss() { sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p' "$1" | awk '{printf "%.0f MB", $1 / 1024}'; }

# best_of N OUT LOG CMD...: runs CMD N times (the machine may be shared), keeps
# the fastest run's stdout and log
best_of() {
  local n=$1 out=$2 log=$3 best=0 r i
  shift 3
  for i in $(seq "$n"); do
    /usr/bin/time -v "$@" >"$out.try" 2>"$log.try"
    r=$(rate "$log.try")
    if awk -v a="$r" -v b="$best" 'BEGIN { exit !(a > b) }'; then best=$r; mv "$out.try" "$out"; mv "$log.try" "$log"; fi
  done
}

# --- exact: clippo-knn (blocked SGEMM + heap) vs FAISS IndexFlatIP, best of 3 each
best_of 3 exact.tsv exact.log clippo-knn --db db.shard --query-emb q.shard -k 10 --threads "$TH" -v
ours=$(rate exact.log)
$PY - "$TH" >faiss.out <<'PYEOF'
import sys, time
import numpy as np, faiss
faiss.omp_set_num_threads(int(sys.argv[1]))
db = np.load("db.npy").astype(np.float32)
q = np.load("q.npy").astype(np.float32)
index = faiss.IndexFlatIP(db.shape[1])
index.add(db)
index.search(q[:50], 10)  # warm-up
best = 1e9
for _ in range(3):
    t = time.perf_counter()
    D, I = index.search(q, 10)
    best = min(best, time.perf_counter() - t)
np.save("faiss_ids.npy", I)
print(f"{len(q) / best:.1f}")
PYEOF
theirs=$(cat faiss.out)
echo
echo "exact search, $NQ queries, k=10, $TH threads:"
printf "  clippo-knn exact   %10.1f queries/s   (best of 3; peak RSS %s, load included)\n" "$ours" "$(rss exact.log)"
printf "  FAISS IndexFlatIP  %10.1f queries/s   (best of 3)\n" "$theirs"
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "  ratio clippo/FAISS %10.2fx   (target >= 1.0x)\n", a / b }'
# both found the same neighbours (float16 data: near-ties may swap)
$PY - <<'PYEOF'
import numpy as np
ref = np.load("faiss_ids.npy")
got = {}
for line in open("exact.tsv"):
    q, r, s, key, _ = line.rstrip("\n").split("\t")
    got.setdefault(int(q[1:]), []).append(int(key[1:]))
agree = np.mean([len(set(got[i]) & set(ref[i])) / 10 for i in range(len(ref))])
print(f"  agreement with FAISS top-10: {agree:.4f}")
PYEOF

# --- IVF: build, then the speed/recall trade-off against the exact results
/usr/bin/time -v clippo-knn build --db db.shard --index-type "$IVF" --train-size 100000 --threads "$TH" -o ivf.index -v \
  >/dev/null 2>build.log
echo
echo "$IVF build: $(sed -n 's/.* in \([0-9.]*\) s -> .*/\1/p' build.log) s (training + adding; load excluded), peak RSS $(rss build.log), index $(du -sm ivf.index | cut -f1) MB"
echo "IVF search, $NQ queries, k=10, $TH threads, best of 3 (recall@10 against exact):"
met=""
for np in 1 2 4 8 16 32 64 128; do
  best_of 3 ivf.tsv ivf.log clippo-knn --index ivf.index --query-emb q.shard -k 10 --nprobe $np --threads "$TH" -v
  r=$(rate ivf.log)
  rec=$($PY - <<'PYEOF'
def load(p):
    d = {}
    for line in open(p):
        q, r, s, key, _ = line.rstrip("\n").split("\t")
        d.setdefault(q, set()).add(key)
    return d
e, a = load("exact.tsv"), load("ivf.tsv")
print(f"{sum(len(e[q] & a.get(q, set())) for q in e) / (10 * len(e)):.4f}")
PYEOF
)
  sp=$(awk -v a="$r" -v b="$ours" 'BEGIN { printf "%.1f", a / b }')
  printf "  nprobe %-3s %10.1f queries/s  recall@10 %s  %6sx exact\n" $np "$r" "$rec" "$sp"
  if [ -z "$met" ] && awk -v r="$rec" 'BEGIN { exit !(r >= 0.95) }'; then
    met="nprobe $np: ${sp}x the exact speed at recall@10 $rec (target >= 10x at >= 0.95)"
  fi
done
echo "  peak RSS of a query run: $(rss ivf.log)"
echo "IVF result: ${met:-recall@10 0.95 not reached}"
