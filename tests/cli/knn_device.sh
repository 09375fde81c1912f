# clippo-knn's exact search through the torch path that --device cuda uses:
# on the CPU device (CLIPPO_KNN_TORCH_SEARCH=1, for tests only) and, where a
# GPU is visible, on it: streams, Flat indexes, zero-shot and retrieval give
# the CPU search's results, and the verbose log shows that the torch path ran.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"
REF="$PY $CLIPPO_SOURCE/tests/ref/search_ref.py"
devices=cpu
clippo-embed --version | grep -q "CUDA with" && devices="cpu cuda"
for DEV in $devices; do
  mkdir "$DEV" && cd "$DEV" || fail "mkdir $DEV"
  # The torch path on $DEV.
  torch() { if [ "$DEV" = cpu ]; then CLIPPO_KNN_TORCH_SEARCH=1 "$@"; else "$@" --device cuda; fi; }

  # --- integer vectors: exact products, many ties; ids, order and scores equal the CPU's
  mkdir ints floats
  $REF gen ints --ints --n 3000 --dim 24 --nq 30 --seed 1
  expect_status 0 clippo-knn --db ints/db.shard --query-emb ints/q.shard -k 10 --no-normalize
  cp "$T/.stdout" cpu.tsv
  expect_status 0 torch clippo-knn --db ints/db.shard --query-emb ints/q.shard -k 10 --no-normalize -v
  expect_contains "$(cat "$T/.stderr")" "exact top-10 of 30 queries over 3000 vectors on --device $DEV" "torch path taken"
  expect_eq "$(md5sum <"$T/.stdout")" "$(md5sum <cpu.tsv)" "torch = CPU on integer vectors"
  $REF check-exact ints "$T/.stdout" --k 10 --no-normalize >ref.out || fail "torch search differs from numpy: $(tail -5 ref.out)"
  # k beyond the database size
  expect_status 0 torch clippo-knn --db ints/db.shard --query-emb ints/q.shard -k 3100 --no-normalize
  expect_eq "$(wc -l <"$T/.stdout")" "$((30 * 3000))" "k > rows lists every row once per query"

  # --- float16 vectors, normalised: numpy's answer (scores may round differently)
  $REF gen floats --f16 --n 5000 --dim 48 --nq 25 --seed 2
  expect_status 0 torch clippo-knn --query-emb floats/q.shard -k 50 < <(cat floats/db.shard)  # a pipe on stdin
  $REF check-exact floats "$T/.stdout" --k 50 >ref.out || fail "torch stream search differs from numpy: $(tail -5 ref.out)"

  # --- a Flat index is searched from its vectors; an IVF index stays with FAISS
  expect_status 0 clippo-knn build --db ints/db.shard --index-type Flat --no-normalize -o flat.index
  expect_status 0 torch clippo-knn --index flat.index --query-emb ints/q.shard -k 10 --no-normalize -v
  expect_contains "$(cat "$T/.stderr")" "(Flat, --device $DEV)" "Flat index through the torch path"
  expect_eq "$(md5sum <"$T/.stdout")" "$(md5sum <cpu.tsv)" "torch Flat index = CPU stream search"
  expect_status 0 clippo-knn build --db floats/db.shard --index-type IVF16,Flat --train-size 2000 -o ivf.index
  expect_status 0 clippo-knn --index ivf.index --query-emb floats/q.shard -k 10 --nprobe 4
  cp "$T/.stdout" ivf.tsv
  expect_status 0 torch clippo-knn --index ivf.index --query-emb floats/q.shard -k 10 --nprobe 4 -v
  expect_contains "$(cat "$T/.stderr")" "(IVF16,Flat)" "IVF index searched by FAISS"
  expect_eq "$(md5sum <"$T/.stdout")" "$(md5sum <ivf.tsv)" "IVF results unchanged"

  # --- zero-shot and retrieval: the same numbers as the CPU path
  mkdir zs ret
  $REF zeroshot-set zs >/dev/null
  expect_status 0 clippo-knn zeroshot --db zs/zs.shard --class-emb zs/prompts.shard --classes zs/classes.txt --predictions cpu_pred.tsv
  cp "$T/.stdout" zs_cpu.out
  expect_status 0 torch clippo-knn zeroshot --db zs/zs.shard --class-emb zs/prompts.shard --classes zs/classes.txt --predictions pred.tsv -v
  expect_contains "$(cat "$T/.stderr")" "on --device $DEV" "zero-shot through the torch path"
  expect_eq "$(cat "$T/.stdout")" "$(cat zs_cpu.out)" "zero-shot metrics"
  expect_eq "$(cat pred.tsv)" "$(cat cpu_pred.tsv)" "zero-shot predictions"
  $REF retrieval-set ret
  expect_status 0 torch clippo-knn retrieval --db ret/ret.shard -v
  expect_contains "$(cat "$T/.stderr")" "on --device $DEV" "retrieval through the torch path"
  expect_eq "$(cat "$T/.stdout")" "$($REF retrieval ret)" "retrieval recall = numpy"
  cd ..
done
done_testing
