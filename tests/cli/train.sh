# clippo-train end to end on a tiny model (mu/4 at 16 px): the workdir files,
# a checkpoint numpy reads with big_vision's names, bitwise resume after
# SIGKILL, SIGTERM checkpointing, 2 processes (Gloo on loopback) against one
# process with the doubled batch, a NaN stop, and bad command lines.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"

# 48 small image/caption pairs in two shards (noise images, digit-word captions).
$PY - <<'PYEOF' || { echo "fixture generation failed"; exit 1; }
import os, struct, zlib
import numpy as np
rng = np.random.default_rng(0)
words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
os.makedirs("img", exist_ok=True)
def png(a):
    h, w = a.shape
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))
    ch = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + ch(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + ch(b"IDAT", zlib.compress(raw)) + ch(b"IEND", b"")
with open("caps.tsv", "w") as f:
    for i in range(48):
        open(f"img/{i:03d}.png", "wb").write(png(rng.integers(0, 256, (20, 20), dtype=np.uint8)))
        f.write(f"{i:03d}.png\tthe {words[i % 10]} {i}\n")
# These pairs collapse to the chance loss ln(batch) on any device; learning
# is checked on pairs a tiny model tells apart: four stripe frequencies
# captioned with four words (and labelled 0-3, for zero-shot). At 16 px only
# a word's first letter shows, so the four start with different letters.
stripe_words = ["red", "green", "blue", "yellow"]
os.makedirs("stripes", exist_ok=True)
y = np.arange(16)[:, None] * np.ones((1, 16))
with open("stripes.tsv", "w") as f:
    for i in range(96):
        a = 127 + 100 * np.sin(y * (i % 4 + 1) * np.pi / 8) + rng.normal(0, 10, (16, 16))
        open(f"stripes/{i:03d}.png", "wb").write(png(a.clip(0, 255).astype(np.uint8)))
        f.write(f"{i:03d}.png\t{stripe_words[i % 4]}\t{i % 4}\n")
PYEOF
clippo-pack -q --images img --captions caps.tsv -o 'd-{0..1}.shard' || fail "clippo-pack"
clippo-pack -q --images stripes --captions stripes.tsv -o stripes.shard || fail "clippo-pack stripes"

# A loopback port nothing listens on now.
free_port() { $PY -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

TINY=(--variant mu/4 --res 16 --threads 1 --data-threads 1 --log-every 1 --seed 3)

# --- OpenMP threads sleep between parallel regions unless the user says otherwise
env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose clippo-train --help >/dev/null 2>.stderr
expect_contains "$(cat .stderr)" "GOMP_SPINCOUNT = '0'" "passive OpenMP wait policy by default"
OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose clippo-train --help >/dev/null 2>.stderr
expect_contains "$(cat .stderr)" "OMP_WAIT_POLICY = 'ACTIVE'" "the user's OpenMP wait policy kept"

# --- a run and its workdir ----------------------------------------------------
expect_status 0 clippo-train --data 'd-{0..1}.shard' --workdir w1 "${TINY[@]}" --lr 0.01 --batch-size 8 --steps 6 --checkpoint-every 2 --warmup 2
for f in checkpoint.npz metrics.jsonl config.json; do [ -s "w1/$f" ] || fail "w1/$f missing"; done
expect_eq "$(wc -l <w1/metrics.jsonl)" 6 "metrics lines"
$PY - <<'PYEOF' || fail "checkpoint contents"
import json, numpy as np
z = np.load("w1/checkpoint.npz")
p = "params/img/"
want = {"params/t": (1,), p + "embedding/kernel": (4, 4, 3, 32), p + "embedding/bias": (32,),
        p + "pos_embedding": (1, 16, 32),
        p + "Transformer/encoderblock_0/MultiHeadDotProductAttention_0/query/kernel": (32, 2, 16),
        p + "Transformer/encoderblock_0/MultiHeadDotProductAttention_0/out/kernel": (2, 16, 32),
        p + "Transformer/encoderblock_0/MlpBlock_0/Dense_0/kernel": (32, 128),
        p + "Transformer/encoder_norm/scale": (32,), p + "MAPHead_0/probe": (1, 1, 32),
        p + "head/kernel": (32, 32)}
for k, s in want.items():
    assert k in z.files, k
    assert z[k].shape == s and z[k].dtype == np.float32, (k, z[k].shape, z[k].dtype)
assert int(z["state/step"][0]) == 6 and int(z["opt/count"][0]) == 6
assert z["opt/mu/img/head/kernel"].dtype == np.dtype("V2")  # bfloat16 as numpy stores it
m = [json.loads(l) for l in open("w1/metrics.jsonl")]
assert [r["step"] for r in m] == [1, 2, 3, 4, 5, 6]
assert all(np.isfinite(r["loss"]) and r["samples_per_s"] > 0 for r in m)
assert abs(m[0]["lr"]) < 1e-12  # big_vision: the first update runs at schedule(0)
c = json.load(open("w1/config.json"))
assert c["variant"] == "mu/4" and c["batch_size"] == 8 and c["steps"] == 6
PYEOF
# The checkpoint is a model clippo-embed reads.
expect_status 0 clippo-embed w1/checkpoint.npz img/000.png img/001.png --npy e1
# Running it again is a no-op; more --steps continue it.
expect_status 0 clippo-train --workdir w1
expect_contains "$(cat .stderr)" "already at step 6" "rerun of a finished run"
expect_status 2 clippo-train --workdir w1 --variant Ti/16
expect_contains "$(cat .stderr)" "start a new --workdir" "changed variant on resume"
expect_status 2 clippo-train --workdir w1 --font /usr/share/unifont/unifont.hex
expect_contains "$(cat .stderr)" "holds a run without --font; start a new --workdir" "changed font on resume"
expect_status 0 clippo-train --workdir w1 --variant mu/4 --quiet  # the saved value: accepted
# config.json holds absolute paths: a resume from another folder reads the same shards.
mkdir -p elsewhere
(cd elsewhere && clippo-train --workdir ../w1 --steps 7 -q) || fail "resume from another folder"

# A resume whose data now holds fewer records than the saved position goes
# on at the next epoch (it looped for ever)
cp d-0.shard shrink.shard
expect_status 0 clippo-train --data shrink.shard --workdir shrink "${TINY[@]}" --batch-size 8 --steps 2
clippo-pack -q d-1.shard --max-caption-chars 9 -o shrink.shard  # the 5 records of captions "the one 1" ... "the nine 9"
expect_status 0 timeout 60 clippo-train --workdir shrink --steps 4
expect_contains "$(cat .stderr)" "lies past the" "resume past the end of shrunk data warned"

# --init from a checkpoint (params only), --init-skip head keeps the head fresh;
# lr 0 and wd 0 leave the loaded weights untouched.
expect_status 0 clippo-train --data 'd-{0..1}.shard' --workdir fromw1 "${TINY[@]}" --batch-size 8 --steps 1 \
  --lr 0 --wd 0 --init w1/checkpoint.npz --init-skip head
$PY - <<'PYEOF' || fail "--init / --init-skip"
import numpy as np
a, b = np.load("w1/checkpoint.npz"), np.load("fromw1/checkpoint.npz")
for k in a.files:
    if k.startswith("params/"):
        same = np.array_equal(a[k], b[k])
        assert same != ("/head/" in k), k
assert int(b["opt/count"][0]) == 1
PYEOF

# Text/text pairs from clippo-pack --sentences, a quarter of each batch.
$PY -c "
import random
random.seed(1)
w = 'alpha beta gamma delta epsilon zeta eta theta iota kappa'.split()
with open('docs.txt', 'w') as f:
    for d in range(12):
        f.write(' '.join(' '.join(random.choice(w) for _ in range(5)).capitalize() + '.' for _ in range(6)) + '\\n\\n')
"
clippo-pack -q --sentences docs.txt -o pairs.shard || fail "clippo-pack --sentences"
expect_status 0 clippo-train --data 'd-{0..1}.shard' --text-pairs pairs.shard --text-pair-fraction 0.25 \
  --workdir tp "${TINY[@]}" --batch-size 8 --steps 3
$PY -c "
import numpy as np
z = np.load('tp/checkpoint.npz')
assert z['state/data_drawn'].tolist() == [18] and z['state/pairs_drawn'].tolist() == [6], (z['state/data_drawn'], z['state/pairs_drawn'])" || fail "pairs per batch"

# Evaluation during training: retrieval recall on held-out pairs in metrics.jsonl.
expect_status 0 clippo-train --data d-0.shard --eval-data d-1.shard --eval-every 2 --eval-size 10 --workdir ev \
  "${TINY[@]}" --batch-size 8 --steps 4
$PY -c "
import json
e = [json.loads(l) for l in open('ev/metrics.jsonl') if 'eval/i2t_recall@1' in l]
assert [r['step'] for r in e] == [2, 4], e
assert all(0 <= r[k] <= 1 for r in e for k in r if k.startswith('eval/'))
assert all(r['eval/i2t_recall@5'] >= r['eval/i2t_recall@1'] for r in e)
assert all(r['eval/i2t_recall@10'] == r['eval/t2i_recall@10'] == 1 for r in e)  # 10 records" || fail "eval metrics"
# An evaluation starts from a saved step: a crash after it (here at the next
# step) resumes there, also off the --checkpoint-every cadence.
CLIPPO_TRAIN_KILL_AT_STEP=4 expect_status 137 clippo-train --data d-0.shard --eval-data d-1.shard --eval-every 3 \
  --eval-size 10 --checkpoint-every 0 --workdir ev_saved "${TINY[@]}" --batch-size 8 --steps 6
$PY -c "import numpy as np; assert int(np.load('ev_saved/checkpoint.npz')['state/step'][0]) == 3" ||
  fail "the step of an evaluation was not saved"
# Records of one image (COCO-style: one a caption) are one image to retrieve.
zstd -dc d-1.shard >ev1.tar
$PY -c "
import io, tarfile
records = {}
with tarfile.open('ev1.tar') as t:
    for m in t:
        key, field = m.name.split('.', 1)
        if key != '__clippo__':
            records.setdefault(key, {})[field] = t.extractfile(m).read()
with tarfile.open('twice.tar', 'w') as out:
    for key, fields in records.items():
        for copy in 'ab':
            for field, data in fields.items():
                data = data + b' ' + copy.encode() if field == 'txt' else data
                n = tarfile.TarInfo(f'{key}{copy}.{field}'); n.size = len(data); out.addfile(n, io.BytesIO(data))"
expect_status 0 clippo-train --data d-0.shard --eval-data twice.tar --eval-size 20 --workdir ev_twice "${TINY[@]}" \
  --batch-size 8 --steps 1
expect_contains "$(cat .stderr)" "evaluating on 20 held-out records: 20 with captions of 10 distinct images" "records of one image"
# --eval-data repeats: 30 records need both shards.
expect_status 0 clippo-train --data d-0.shard --eval-data d-0.shard --eval-data d-1.shard --eval-size 30 --workdir ev_two \
  "${TINY[@]}" --batch-size 8 --steps 1
expect_contains "$(cat .stderr)" "evaluating on 30 held-out records" "two --eval-data"
# Without --eval-every: once, at the end.
expect_status 0 clippo-train --data d-0.shard --eval-data d-1.shard --eval-size 10 --workdir ev_end "${TINY[@]}" --batch-size 8 --steps 3
expect_eq "$(grep -c 'eval/' ev_end/metrics.jsonl)" 1 "eval lines without --eval-every"
expect_eq "$(grep -c '"step":3,"eval/' ev_end/metrics.jsonl)" 1 "eval at the last step"

# Zero-shot during training: the stripes' labels, their four words as class
# names, the bare word as the prompt. It learns (chance is 1/4), and the last
# figure is what clippo-embed + clippo-knn zeroshot make of the checkpoint.
printf 'red\ngreen\nblue\nyellow\n' >stripe-classes.txt
echo '{}' >names-only.txt
ZS=(--data stripes.shard --variant mu/4 --res 16 --threads 1 --data-threads 1 --seed 3 --lr 0.003
    --batch-size 16 --shuffle-buffer 0 --checkpoint-every 0 --log-every 10)
expect_status 0 clippo-train "${ZS[@]}" --steps 40 --workdir zs --eval-data stripes.shard --eval-every 20 \
  --eval-classes stripe-classes.txt --eval-prompts names-only.txt
expect_contains "$(cat .stderr)" "96 labelled (4 classes, 4 prompts)" "zero-shot eval set"
[[ "$(cat .stderr)" != *"of the 4 classes"* ]] || fail "coverage warning with every class present"
# Fewer records than classes: a warning that the accuracy covers some classes only.
expect_status 0 clippo-train "${ZS[@]}" --steps 1 --workdir zs_few --eval-data stripes.shard --eval-size 3 \
  --eval-classes stripe-classes.txt --eval-prompts names-only.txt
expect_contains "$(cat .stderr)" "the 3 labelled records evaluated hold 3 of the 4 classes (shuffle the shards or raise --eval-size" "class coverage warning"
# Every record read (exactly --eval-size of them) and still a class short: no
# advice to read more; names that repeat are pointed out.
printf 'red\ngreen\nblue\nyellow\npink\n' >five-classes.txt
expect_status 0 clippo-train "${ZS[@]}" --steps 1 --workdir zs_five --eval-data stripes.shard --eval-size 96 \
  --eval-classes five-classes.txt --eval-prompts names-only.txt
expect_contains "$(cat .stderr)" "the 96 labelled records evaluated hold 4 of the 5 classes" "a class no record has"
[[ "$(cat .stderr)" != *"raise --eval-size"* ]] || fail "advice to raise --eval-size when every record was read"
printf 'red\ngreen\nred\nyellow\n' >dup-classes.txt
expect_status 0 clippo-train "${ZS[@]}" --steps 1 --workdir zs_dup --eval-data stripes.shard \
  --eval-classes dup-classes.txt --eval-prompts names-only.txt
expect_contains "$(cat .stderr)" "dup-classes.txt: 1 class name(s) repeat ('red' x2): zero-shot cannot tell those classes apart" "repeated class names"
expect_status 0 clippo-embed -q zs/checkpoint.npz stripes.shard --fields image -o zs.emb.shard
expect_status 0 clippo-knn zeroshot --db zs.emb.shard --classes stripe-classes.txt --prompts names-only.txt \
  --model zs/checkpoint.npz --json
cp .stdout zs-knn.json
$PY - <<'PYEOF' || fail "zero-shot during training"
import json
e = [json.loads(l) for l in open("zs/metrics.jsonl") if "eval/" in l]
assert [r["step"] for r in e] == [20, 40], e
assert all("eval/zeroshot_top5" not in r and "eval/i2t_recall@1" in r for r in e), e  # 4 classes: no top-5
last = e[-1]["eval/zeroshot_top1"]
assert last >= 0.5, e
knn = json.load(open("zs-knn.json"))
assert knn["records"] == 96, knn
# Two float paths (training forward, inference kernels): a near tie may flip one record.
assert abs(knn["top1"] - last) <= 1 / 96 + 1e-9, (knn["top1"], last)
PYEOF
expect_status 2 clippo-train --data d-0.shard --eval-classes stripe-classes.txt --workdir zs_bad1 "${TINY[@]}"
expect_contains "$(cat .stderr)" "--eval-classes needs --eval-data" "eval classes without eval data"
expect_status 1 clippo-train --data d-0.shard --eval-data d-1.shard --eval-classes stripe-classes.txt --workdir zs_bad2 "${TINY[@]}"
expect_contains "$(cat .stderr)" "no record has a cls label" "zero-shot on records without labels"
printf 'red\ngreen\n' >two-classes.txt
expect_status 1 clippo-train --data d-0.shard --eval-data stripes.shard --eval-classes two-classes.txt --workdir zs_bad3 "${TINY[@]}"
expect_contains "$(cat .stderr)" "stripes.shard: 000000002: cls '2' is not a class index of --eval-classes two-classes.txt (2 classes)" "label out of range"

# --- SIGKILL mid-way, resume: bitwise the uninterrupted run --------------------
RUN=(--data 'd-{0..1}.shard' "${TINY[@]}" --lr 0.01 --batch-size 8 --steps 10 --checkpoint-every 4 --shuffle-buffer 16)
expect_status 0 clippo-train "${RUN[@]}" --workdir full
CLIPPO_TRAIN_KILL_AT_STEP=6 clippo-train "${RUN[@]}" --workdir crash >/dev/null 2>&1
expect_eq "$?" 137 "exit status of the killed run"
$PY -c "import numpy as np; assert int(np.load('crash/checkpoint.npz')['state/step'][0]) == 4" || fail "checkpoint of the killed run is not step 4"
# Bitwise needs the same thread count (reductions split by threads): the
# resumed run takes the saved one. A line torn by the kill is dropped.
printf '{"step":7,"lo' >>crash/metrics.jsonl
drawn=$($PY -c "import numpy as np; z = np.load('crash/checkpoint.npz'); print(int(z['state/data_epoch'][0]), int(z['state/data_drawn'][0]))")
expect_status 0 clippo-train --workdir crash
expect_contains "$(cat .stderr)" "reading epoch ${drawn% *} again up to its record ${drawn#* }, where the checkpoint left it" \
  "the resume says it reads its data position again"
$PY -c "
import json
assert [json.loads(l)['step'] for l in open('crash/metrics.jsonl')] == list(range(1, 11))
" || fail "metrics.jsonl of the resumed run: each step once, no torn line"
$PY - <<'PYEOF' || fail "resumed run differs from the uninterrupted one"
import numpy as np
a, b = np.load("full/checkpoint.npz"), np.load("crash/checkpoint.npz")
assert sorted(a.files) == sorted(b.files)
for k in a.files:
    assert a[k].tobytes() == b[k].tobytes(), k
PYEOF
clippo-train --workdir crash --threads 2 --steps 11 >/dev/null 2>.stderr || fail "resume with another thread count"
expect_contains "$(cat .stderr)" "ran with --threads 1" "warning for another thread count on resume"

# A mistyped --data pattern leaves no workdir behind; a run killed before its
# first checkpoint trained nothing, so a corrected command line starts it anew.
expect_status 1 clippo-train --data 'nothere-{0..1}.shard' "${TINY[@]}" --workdir typo
expect_contains "$(cat .stderr)" "nothere-0.shard" "error naming the missing shard"
[ -e typo ] && fail "a mistyped --data left typo/ behind"
expect_status 2 clippo-train --data d-0.shard "${TINY[@]}" --variant mu/5 --workdir typo
[ -e typo ] && fail "a bad --variant left typo/ behind"
CLIPPO_TRAIN_KILL_AT_STEP=2 clippo-train --data d-0.shard "${TINY[@]}" --batch-size 8 --steps 10 --checkpoint-every 0 \
  --workdir early >/dev/null 2>&1
expect_eq "$?" 137 "exit status of the run killed before its first checkpoint"
[ -e early/checkpoint.npz ] && fail "the run killed at step 2 wrote a checkpoint"
expect_status 0 clippo-train --data 'd-{0..1}.shard' "${TINY[@]}" --batch-size 4 --steps 2 --workdir early
$PY -c "
import json, numpy as np
c = json.load(open('early/config.json'))
import os
assert c['data'] == [os.path.abspath('d-{0..1}.shard')] and c['batch_size'] == 4, c
assert int(np.load('early/checkpoint.npz')['state/step'][0]) == 2
assert [json.loads(l)['step'] for l in open('early/metrics.jsonl')] == [1, 2]
" || fail "a corrected command line did not start the checkpoint-less run anew (each step logged once)"

# --- SIGTERM: checkpoint, exit 143, resumable --------------------------------
clippo-train --data 'd-{0..1}.shard' "${TINY[@]}" --lr 0.01 --batch-size 8 --steps 100000 --checkpoint-every 0 --workdir term >term.log 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s term/metrics.jsonl ] && [ "$(wc -l <term/metrics.jsonl)" -ge 3 ] && break; sleep 0.1; done
kill -TERM $pid
wait $pid
expect_eq "$?" 143 "exit status after SIGTERM"
expect_contains "$(cat term.log)" "checkpoint saved" "SIGTERM message"
$PY -c "
import json, numpy as np
s = int(np.load('term/checkpoint.npz')['state/step'][0])
last = json.loads(open('term/metrics.jsonl').readlines()[-1])['step']
assert 3 <= s < 100000 and s == last, (s, last)" || fail "SIGTERM checkpoint step"

# --- two processes (Gloo, loopback) with batch B == one process with 2B ---------
# (A build without Gloo, as against PyTorch's pip wheels, must say so instead.)
if ! clippo-train --version | grep -q "^multi-process: .*gloo"; then
  expect_status 1 env RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 clippo-train --data d-0.shard "${TINY[@]}" --workdir nogloo
  expect_contains "$(cat .stderr)" "multi-process training on CPU needs Gloo, which this build of clippo lacks" "no Gloo"
  echo "note: this build has no Gloo; the CPU multi-process cases are replaced by the check of its error"
else
# run_ranks torchrun|slurm WORKDIR ARGS...: clippo-train as ranks 0 and 1 on
# loopback, with the launcher's variables; rank 1 also gets the environment
# in RANK1_ENV and the arguments in RANK1_ARGS, and RANK1_WORKDIR if set.
# Their exit statuses go to $statuses ("0/0/").
RANK1_ENV=() RANK1_ARGS=() RANK1_WORKDIR=""
run_ranks() {
  local launcher=$1 workdir=$2 port r pids=() vars more_env more_args
  shift 2
  port=$(free_port)
  for r in 0 1; do
    vars=(RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r LOCAL_WORLD_SIZE=2)
    [ "$launcher" = slurm ] && vars=(SLURM_PROCID=$r SLURM_NTASKS=2 SLURM_LOCALID=$r SLURM_NODELIST=localhost)
    more_env=() more_args=(--workdir "$workdir")
    [ $r = 1 ] && more_env=("${RANK1_ENV[@]}") more_args=("${RANK1_ARGS[@]}" --workdir "${RANK1_WORKDIR:-$workdir}")
    env "${vars[@]}" MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "${more_env[@]}" \
      timeout 120 clippo-train "$@" "${more_args[@]}" >"$workdir.rank$r.log" 2>&1 &
    pids+=($!)
  done
  statuses=""
  for r in 0 1; do wait "${pids[$r]}"; statuses+="$?/"; done
}
# two_ranks: run_ranks, and both must exit 0.
two_ranks() {
  run_ranks "$@"
  expect_eq "$statuses" "0/0/" "$1 two-process exit statuses for $2 ($(cat "$2".rank*.log | head -c 1500))"
}
DP=(--data 'd-{0..1}.shard' "${TINY[@]}" --lr 0.01 --shuffle-buffer 0 --checkpoint-every 0 --batch-size 8 --steps 4)
# A signal at the rendezvous ends a rank at once, also the one still
# connecting (a script's background job, which starts with SIGINT ignored).
for r in 0 1; do
  env RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port) CLIPPO_RENDEZVOUS_TIMEOUT=30 \
    clippo-train "${DP[@]}" --workdir sigrdv$r 2>"$T/.stderr" &
  expect_sigint_ends "SIGINT to rank $r at the rendezvous" $!
  expect_contains "$(cat "$T/.stderr")" "stopped by signal before training started (nothing to save)" "rank $r stopped at the rendezvous"
  [ -e sigrdv$r ] && fail "rank $r stopped at the rendezvous made its workdir"
done
# A rank whose peers never come says so after 10 s (checked below).
alone_port=$(free_port)
env RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$alone_port timeout 20 \
  clippo-train "${DP[@]}" --workdir alone >alone.log 2>&1 &
alone=$!
# Rank 0 whose peer never comes stops at the rendezvous timeout.
alone0_port=$(free_port)
env RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$alone0_port CLIPPO_RENDEZVOUS_TIMEOUT=12 timeout 60 \
  clippo-train "${DP[@]}" --workdir alone0 >alone0.log 2>&1 &
alone0=$!
# A port held by a program that is no rendezvous (it accepts, never answers):
# rank 1 gives up at the timeout rather than wait for ever. So does one
# whose MASTER_ADDR names no host (looked up again, as a Kubernetes
# service's name resolves once its node is up).
port=$(free_port)
$PY -c "
import socket
s = socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(8); held = []
while True: held.append(s.accept())" &
mute=$!
sleep 0.5
expect_status 1 env RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port CLIPPO_RENDEZVOUS_TIMEOUT=3 \
  timeout 60 clippo-train "${DP[@]}" --workdir mute
expect_contains "$(cat .stderr)" "rendezvous at 127.0.0.1:$port (rank 1 of 2): no answer within 3 s" "a port no rendezvous answers"
kill $mute
# A port another program holds: rank 0 says so, in its own words alone.
port=$(free_port)
$PY -c "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(1); time.sleep(60)" &
holder=$!
sleep 0.5
expect_status 1 env RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port CLIPPO_RENDEZVOUS_TIMEOUT=5 \
  timeout 60 clippo-train "${DP[@]}" --workdir taken
expect_contains "$(cat .stderr)" "(another job holds this port: give this one its own MASTER_PORT)" "a port in use"
case "$(cat .stderr)" in *InitGoogleLogging*|*socket.cpp*) fail "libtorch's own log lines for a port in use: $(cat .stderr)" ;; esac
kill $holder
expect_status 1 env RANK=1 WORLD_SIZE=2 MASTER_ADDR=no.such.host.invalid CLIPPO_RENDEZVOUS_TIMEOUT=3 timeout 60 \
  clippo-train "${DP[@]}" --workdir nohost
expect_contains "$(cat .stderr)" "MASTER_ADDR=no.such.host.invalid: " "a MASTER_ADDR that names no host"
# A rank restarted during the rendezvous is one rank: rank 0 of 3 sees 2 of 3.
DP3=(--data 'd-{0..1}.shard' "${TINY[@]}" --steps 4 --batch-size 9)  # a batch 3 ranks split
R3=(WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port) CLIPPO_RENDEZVOUS_TIMEOUT=20)
env RANK=0 "${R3[@]}" timeout 60 clippo-train "${DP3[@]}" --workdir restart >restart.rank0.log 2>&1 &
restart0=$!
env RANK=1 "${R3[@]}" clippo-train "${DP3[@]}" -v --workdir restart >restart.rank1.log 2>&1 &
first1=$!
for _ in $(seq 200); do grep -q "rank 1 of 3 is at the rendezvous" restart.rank1.log && break; sleep 0.1; done
kill -9 $first1
wait $first1 2>/dev/null
env RANK=1 "${R3[@]}" timeout 60 clippo-train "${DP3[@]}" --workdir restart >>restart.rank1.log 2>&1 &
restart1=$!
# The text-pair share is of the global batch: 0.2 of 4 rows is one pair over
# both ranks (rounded per rank of 2 rows it was none).
two_ranks torchrun share --data 'd-{0..1}.shard' --text-pairs pairs.shard --text-pair-fraction 0.2 "${TINY[@]}" \
  --batch-size 4 --steps 1 --shuffle-buffer 0
case "$(cat share.rank0.log share.rank1.log)" in *"is unused"*) fail "a 0.2 share of a global batch of 4 rounded to none" ;; esac

# Rank 0 evaluates while rank 1 waits; without --threads the two processes
# of a node share its cores (LOCAL_WORLD_SIZE), unless bound to some.
two_ranks torchrun evaluated --data 'd-{0..1}.shard' --variant mu/4 --res 16 --data-threads 1 --batch-size 4 \
  --steps 2 --eval-data d-1.shard --eval-every 1 --eval-size 8
$PY -c "
import json, os
e = [json.loads(l)['step'] for l in open('evaluated/metrics.jsonl') if 'eval/i2t_recall@1' in l]
assert e == [1, 2], e
mine, all = len(os.sched_getaffinity(0)), os.cpu_count()
threads = json.load(open('evaluated/config.json'))['threads']
assert threads == (max(1, mine // 2) if mine == all else mine), (threads, mine, all)" ||
  fail "two ranks' evaluations, or their threads"

# A signal to rank 1 alone while rank 0 evaluates (80,000 ImageNet prompts:
# half a minute) ends the evaluation: both stop at once with the checkpoint.
port=$(free_port)
EVALSIG=(--data 'd-{0..1}.shard' --variant mu/4 --res 48 --threads 1 --data-threads 1 --batch-size 4 --steps 3
  --eval-data stripes.shard --eval-classes imagenet --eval-every 1 --workdir evalsig2)
for r in 0 1; do
  env RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port clippo-train "${EVALSIG[@]}" >evalsig2.rank$r.log 2>&1 &
  pids[$r]=$!
done
for _ in $(seq 600); do [ -s evalsig2/metrics.jsonl ] && break; sleep 0.1; done
sleep 1
started=$SECONDS
kill -INT "${pids[1]}"
statuses=""
for r in 0 1; do wait "${pids[$r]}"; statuses+="$?/"; done
expect_eq "$statuses" "143/130/" "exit statuses after SIGINT to rank 1 during rank 0's evaluation"
[ $((SECONDS - started)) -lt 20 ] || fail "rank 0's evaluation went on $((SECONDS - started)) s after rank 1's signal"
expect_contains "$(cat evalsig2.rank0.log)" "step 1: evaluation stopped by signal" "rank 0's evaluation cut by rank 1's signal"
$PY -c "import numpy as np; assert int(np.load('evalsig2/checkpoint.npz')['state/step'][0]) == 1" ||
  fail "the checkpoint after rank 1's signal during the evaluation"

# The skipped count is the ranks' sum: rank 1 reads a shard half of junk images.
zstd -dc d-1.shard >good1.tar
$PY -c "
import io, tarfile
with tarfile.open('mixed.tar', 'w') as t, tarfile.open('good1.tar') as g:
    for i in range(6):  # first, so the first steps meet them
        for name, data in ((f'junk{i}.jpg', b'\xff\xd8\xff\xe0 not a jpeg'), (f'junk{i}.txt', b'junk')):
            m = tarfile.TarInfo(name); m.size = len(data); t.addfile(m, io.BytesIO(data))
    for m in g:
        t.addfile(m, g.extractfile(m))"
two_ranks torchrun skipsum --data d-0.shard --data mixed.tar "${TINY[@]}" --batch-size 8 --steps 4 --shuffle-buffer 0
$PY -c "
import json
assert json.loads(open('skipsum/metrics.jsonl').readlines()[-1])['skipped'] > 0
" || fail "metrics.jsonl counts the records rank 1 skipped"
# Rank 1 shows its warnings, under its rank, and no progress.
expect_contains "$(cat skipsum.rank1.log)" "clippo-train (rank 1): warning: $PWD/mixed.tar: junk0: " "rank 1's warning (its files are rank 0's, absolute)"
case "$(cat skipsum.rank1.log)" in *"step 1/4"*) fail "rank 1 logged progress" ;; esac
# One damaged shard that both ranks read (fewer files than ranks) counts once
# a pass, as for one process.
clippo-pack -q d-0.shard --compression none -o plain0.shard || fail "clippo-pack --compression none"
head -c "$(($(stat -c %s plain0.shard) / 2 + 700))" plain0.shard >cut0.shard
CUT=(--data cut0.shard "${TINY[@]}" --batch-size 8 --steps 6 --shuffle-buffer 0)
expect_status 0 clippo-train "${CUT[@]}" --workdir cut_one
two_ranks torchrun cut_two "${CUT[@]}"
$PY -c "
import json
one, two = (json.loads(open(f'{w}/metrics.jsonl').readlines()[-1])['damaged_reads'] for w in ('cut_one', 'cut_two'))
assert one > 0 and one == two, (one, two)" || fail "damaged_reads of two ranks reading one shard"

# Bad data on one rank stops both before the next step, with the steps done
# saved and that rank's error on both.
run_ranks torchrun cut_fail --data cut0.shard --data d-1.shard "${TINY[@]}" --batch-size 8 --steps 50 \
  --shuffle-buffer 0 --checkpoint-every 0 --on-error fail
expect_eq "$statuses" "1/1/" "exit statuses when one rank's data fails"
saved=$($PY -c "import numpy as np; print(int(np.load('cut_fail/checkpoint.npz')['state/step'][0]))")
[ "$saved" -ge 1 ] || fail "the checkpoint after one rank's data error holds step $saved"
for r in 0 1; do
  expect_contains "$(cat cut_fail.rank$r.log)" "cut0.shard: not a readable tar stream at byte" "rank $r tells the data error"
done
expect_contains "$(cat cut_fail.rank0.log)" "the checkpoint of step $saved is saved to cut_fail/checkpoint.npz: run again to resume" \
  "the steps done before one rank's data error are saved"

# A rank lost mid-run: the other names the step and the checkpoint to resume.
RANK1_ENV=(CLIPPO_TRAIN_KILL_AT_STEP=3)
run_ranks torchrun lost --data 'd-{0..1}.shard' "${TINY[@]}" --steps 8 --checkpoint-every 2 --batch-size 8
RANK1_ENV=()
expect_eq "$statuses" "1/137/" "exit statuses when rank 1 dies at step 3"
expect_contains "$(cat lost.rank0.log)" "error: after step 3: " "the step the peer was lost at"
expect_contains "$(cat lost.rank0.log)" "one of them has stopped or cannot be reached; its own messages say why. Run the same command on every rank to resume from the checkpoint of step 2" "lost peer advice"
# Lost before the first step of a resumed run, once rank 0's checkpoint is
# shared: the checkpoint's step is named.
RANK1_ENV=(CLIPPO_TRAIN_KILL_AT_STEP=2)
run_ranks torchrun lost --data 'd-{0..1}.shard' "${TINY[@]}" --steps 8 --checkpoint-every 2 --batch-size 8
RANK1_ENV=()
# Rank 0 says why (it once died of SIGPIPE here, writing to its lost peer).
expect_eq "$statuses" "1/137/" "exit statuses when rank 1 dies before the first step of a resume"
expect_contains "$(cat lost.rank0.log)" "error: after step 2: " "a peer lost before the first step of a resume"
expect_contains "$(cat lost.rank0.log)" "resume from the checkpoint of step 2" "the checkpoint a resume lost a peer at"

# Ranks given other options, or not seeing the checkpoint, stop before training.
RANK1_ARGS=(--wd 0.0002)
run_ranks torchrun mixed "${DP[@]}"
RANK1_ARGS=()
expect_eq "$statuses" "2/2/" "exit statuses of ranks given different --wd"
expect_contains "$(cat mixed.rank0.log)" "rank 1 was given other options than rank 0 (--wd): an option given to any rank must have rank 0's value" "ranks with other options"
[ -e mixed/checkpoint.npz ] && fail "ranks that disagree trained"
# Other fonts at the same path (as on another node) would render other
# glyphs: the rank that has them stops before training. (/proc/self/cwd is
# a path that each rank, started in its own folder, reads its own file at.)
mkdir -p font0 font1
cp /usr/share/unifont/unifont.hex font0/f.hex
{ cat font0/f.hex; echo "E000:00007E424242424242424242427E0000"; } >font1/f.hex
port=$(free_port) pids=()
for r in 0 1; do
  (cd font$r && env RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout 120 \
    clippo-train --data "$T/d-{0..1}.shard" "${TINY[@]}" --steps 1 --font /proc/self/cwd/f.hex \
    --workdir "$T/fonts" >"$T/fonts.rank$r.log" 2>&1) &
  pids+=($!)
done
statuses=""
for r in 0 1; do wait "${pids[$r]}"; statuses+="$?/"; done
expect_eq "$statuses" "1/1/" "exit statuses of ranks with other fonts"
expect_contains "$(cat fonts.rank0.log)" "rank 1: font /proc/self/cwd/f.hex: other bytes here (SHA-256 " "ranks with other fonts"
[ -e fonts/checkpoint.npz ] && fail "ranks with other fonts trained"
# Rank 0 that cannot start (no --data files match) tells the others, which
# stop with its error rather than wait for a rendezvous.
RANK1_WORKDIR=nodata_rank1
run_ranks torchrun nodata --data 'nothing-*.shard' "${TINY[@]}" --steps 2
RANK1_WORKDIR=
expect_eq "$statuses" "1/1/" "exit statuses when rank 0 cannot start"
expect_contains "$(cat nodata.rank1.log)" "clippo-train (rank 1): error: rank 0: nothing-*.shard: no file matches" \
  "rank 1 stops with rank 0's error"

wait $alone
wait $alone0
expect_eq "$?" 1 "exit status of rank 0 whose peer never came"
expect_contains "$(cat alone0.log)" "error: rendezvous at 127.0.0.1:$alone0_port (rank 0 of 2): 1 of 2 processes joined within 12 s" \
  "rank 0 waiting alone"
[ -e alone0 ] && fail "rank 0 whose peer never came made its workdir"
wait $restart0
expect_eq "$?" 1 "exit status of rank 0 whose third rank never came"
expect_contains "$(cat restart.rank1.log)" "rank 1 of 3 is at the rendezvous" "rank 1 joined before it was killed"
expect_contains "$(cat restart.rank0.log)" "2 of 3 processes joined within 20 s" "a rank restarted in the rendezvous counted once"
wait $restart1
expect_contains "$(cat alone.log)" "clippo-train (rank 1): warning: still waiting for the rendezvous of 2 processes at 127.0.0.1:$alone_port after 10 s" "a rank waiting alone"
expect_contains "$(cat alone.log)" "clippo-train (rank 1): stopped by signal before training started (nothing to save)" \
  "timeout's SIGTERM at the rendezvous"

# A Slurm job of one task trains alone: no rendezvous, so a port another job
# holds is no matter.
port=$(free_port)
$PY -c "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(1); time.sleep(30)" &
holder=$!
sleep 0.5
expect_status 0 env SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_NODELIST=localhost MASTER_PORT=$port \
  clippo-train "${DP[@]}" --workdir slurm_one
case "$(cat .stderr)" in *rendezvous*) fail "a Slurm job of one task held a rendezvous" ;; esac
kill $holder 2>/dev/null
expect_status 0 clippo-train "${DP[@]}" --workdir one
two_ranks torchrun two "${DP[@]}"
expect_contains "$(cat two.rank0.log)" "rendezvous of 2 processes at 127.0.0.1:" "rank 0 says whom it waits for"
$PY - <<'PYEOF' || fail "two processes differ from one process with the doubled batch"
import json, numpy as np
a, b = np.load("one/checkpoint.npz"), np.load("two/checkpoint.npz")
for k in a.files:
    # Attention key biases get a zero gradient in exact arithmetic (softmax
    # ignores a shift shared by all keys): their float noise, which Adafactor
    # normalises to full-size steps, differs with the reduction order.
    if k.startswith("params/") and not k.endswith("key/bias"):
        assert np.allclose(a[k], b[k], rtol=1e-4, atol=1e-4), (k, np.abs(a[k] - b[k]).max())
la = [json.loads(l)["loss"] for l in open("one/metrics.jsonl")]
lb = [json.loads(l)["loss"] for l in open("two/metrics.jsonl")]
assert np.allclose(la, lb, rtol=1e-5), (la, lb)
assert b["state/data_drawn"].tolist() == [16, 16], b["state/data_drawn"]
PYEOF

# Rank 0 alone reads and writes the workdir: a rank whose --workdir is a
# folder of its own (no shared file system) resumes from rank 0's checkpoint
# and configuration, given only --workdir, as an uninterrupted run.
RANK1_WORKDIR=apart_rank1
two_ranks torchrun apart "${DP[@]:0:${#DP[@]}-2}" --steps 2  # DP but its --steps 4
two_ranks torchrun apart --steps 4
# What rank 0 finds wrong in its checkpoint (after the rendezvous) stops
# rank 1 too, with rank 0's message.
run_ranks torchrun apart --steps 1
RANK1_WORKDIR=
expect_eq "$statuses" "2/2/" "exit statuses when rank 0's workdir is past --steps"
expect_contains "$(cat apart.rank1.log)" "clippo-train (rank 1): error: rank 0: --steps 1: apart is at step 4 already" \
  "rank 1 stops with the error rank 0 found in its checkpoint"
expect_contains "$(cat apart.rank0.log)" "clippo-train: error: --steps 1: apart is at step 4 already" "rank 0's own error as it is"
[ -e apart_rank1 ] && fail "rank 1 made or wrote its own --workdir"
$PY -c "
import numpy as np
a, b = np.load('two/checkpoint.npz'), np.load('apart/checkpoint.npz')
assert sorted(a.files) == sorted(b.files)
assert int(b['state/step'][0]) == 4
assert all(a[k].tobytes() == b[k].tobytes() for k in a.files), [k for k in a.files if a[k].tobytes() != b[k].tobytes()]" ||
  fail "two ranks resumed from rank 0's workdir alone differ from an uninterrupted run"

# And in bf16: the same to bf16 rounding.
expect_status 0 clippo-train "${DP[@]}" --workdir one_bf --precision bf16
two_ranks torchrun two_bf "${DP[@]}" --precision bf16
$PY - <<'PYEOF' || fail "two processes in bf16 differ from one process with the doubled batch"
import json, numpy as np
la = [json.loads(l)["loss"] for l in open("one_bf/metrics.jsonl")]
lb = [json.loads(l)["loss"] for l in open("two_bf/metrics.jsonl")]
lf = [json.loads(l)["loss"] for l in open("one/metrics.jsonl")]
assert len(la) == len(lb) == 4 and np.allclose(la, lb, rtol=2e-2), (la, lb)
assert la != lf, "bf16 computed what fp32 did"
PYEOF

# The same through Slurm's variables (srun), the fallback when RANK is unset.
two_ranks slurm slurm "${DP[@]}"
$PY -c "
import numpy as np
a, b = np.load('two/checkpoint.npz'), np.load('slurm/checkpoint.npz')
assert all(a[k].tobytes() == b[k].tobytes() for k in a.files)" || fail "Slurm run differs from the torchrun-variable run"
fi

# --- --precision bf16 on the CPU: bfloat16 autocast learns as float32 does ------
BF=(--data stripes.shard --variant mu/4 --res 16 --threads 1 --data-threads 1 --log-every 1 --seed 3 --lr 0.003
    --batch-size 16 --steps 40 --shuffle-buffer 0 --checkpoint-every 0)
expect_status 0 clippo-train "${BF[@]}" --workdir f32
expect_status 0 clippo-train "${BF[@]}" --workdir b16 --precision bf16 --eval-data stripes.shard \
  --eval-classes stripe-classes.txt --eval-prompts names-only.txt
cp .stderr b16.log
# Its eval embeds in bf16, as clippo-embed --precision bf16 (whose shard tells
# clippo-knn to embed the prompts so too).
expect_status 0 clippo-embed -q b16/checkpoint.npz stripes.shard --fields image --precision bf16 -o b16.emb.shard
expect_status 0 clippo-knn zeroshot --db b16.emb.shard --classes stripe-classes.txt --prompts names-only.txt \
  --model b16/checkpoint.npz --json
cp .stdout b16-knn.json
# Without bf16 instructions: a warning, and looser sums (see cpu_has_bf16).
if cpu_has_bf16; then
  bf_rtol=5e-2
  [[ "$(cat b16.log)" == *"no bf16 matmul instructions"* ]] && fail "bf16 warning on a CPU with bf16 instructions"
else
  bf_rtol=1e-1
  expect_contains "$(cat b16.log)" "this CPU has no bf16 matmul instructions" "bf16 warning on a CPU without them"
fi
BF_RTOL=$bf_rtol $PY - <<'PYEOF' || fail "CPU bf16 training"
import json, math, os, numpy as np
a = [json.loads(l)["loss"] for l in open("f32/metrics.jsonl")]
b = [json.loads(l)["loss"] for l in open("b16/metrics.jsonl") if '"loss"' in l]
assert len(b) == 40 and np.mean(b[-5:]) < math.log(16) - 0.5, b  # well below chance
assert np.allclose(b[:5], a[:5], rtol=float(os.environ["BF_RTOL"])), (b[:5], a[:5])  # float32's, to bf16 rounding
assert b != a, "--precision bf16 computed exactly what fp32 did"
assert json.load(open("b16/config.json"))["precision"] == "bf16"
assert json.load(open("f32/config.json"))["precision"] == "auto"
# Class and prompt files are kept by absolute path, for a resume from elsewhere.
import os
c = json.load(open("b16/config.json"))
assert c["eval_classes"] == os.path.abspath("stripe-classes.txt") and c["eval_prompts"] == os.path.abspath("names-only.txt"), c
z = np.load("b16/checkpoint.npz")
assert all(z[k].dtype == np.float32 for k in z.files if k.startswith("params/"))  # weights stay float32
# The start line says what trains, with the checkpoint's parameter count.
n = sum(z[k].size for k in z.files if k.startswith("params/"))
line = f"training mu/4 at 16 px ({n} parameters) on cpu in bf16, batch 16, 40 steps"
assert line in open("b16.log").read(), (line, open("b16.log").read()[:300])
e = [json.loads(l) for l in open("b16/metrics.jsonl") if "eval/" in l]
knn = json.load(open("b16-knn.json"))
assert len(e) == 1 and e[0]["eval/zeroshot_top1"] >= 0.5, e
# bf16 in other batch splits: a near tie may flip a record or two.
assert abs(knn["top1"] - e[0]["eval/zeroshot_top1"]) <= 2 / 96 + 1e-9, (knn["top1"], e)
PYEOF
# The precision may change on resume.
expect_status 0 clippo-train --workdir b16 --steps 42 --precision fp32
$PY -c "import json; assert json.load(open('b16/config.json'))['precision'] == 'fp32'" || fail "precision changed on resume"
expect_status 2 clippo-train "${BF[@]}" --workdir b16_bad --precision fp16
expect_contains "$(cat .stderr)" "--precision fp16: expected fp32, bf16 or auto" "bad precision"

# --- --device cuda: bf16 autocast; checkpointing and a launcher's world of one alike
if clippo-train --version | grep -q "CUDA with"; then
  # Learning is checked on the stripes pairs (the noise pairs collapse to chance).
  CU=(--data stripes.shard --variant mu/4 --res 16 --threads 2 --data-threads 1 --log-every 1 --seed 3 --lr 0.003
      --batch-size 16 --steps 40 --shuffle-buffer 0 --checkpoint-every 0)
  expect_status 0 clippo-train "${CU[@]}" --workdir cpu
  expect_status 0 clippo-train "${CU[@]}" --workdir cu --device cuda
  expect_status 0 clippo-train "${CU[@]}" --workdir cu_gc --device cuda --grad-checkpointing
  expect_status 0 clippo-train "${CU[@]}" --workdir cu_f32 --device cuda --precision fp32
  port=$(free_port)
  backends=$(clippo-train --version | sed -n 's/^multi-process: //p')
  rank_runs=cu_rank
  if [[ "$backends" == none ]]; then  # a build that found neither NCCL's header nor Gloo's
    expect_status 1 env RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      clippo-train "${CU[@]}" --workdir cu_rank --device cuda
    expect_contains "$(cat .stderr)" "multi-process training on CUDA needs NCCL or Gloo, which this build of clippo lacks" \
      "a process group without a backend"
    rank_runs=
  else
    expect_status 0 env RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      clippo-train "${CU[@]}" --workdir cu_rank --device cuda -v
    backend=gloo; [[ "$backends" == *nccl* ]] && backend=nccl
    expect_contains "$(cat .stderr)" "rank 0 of 1 joined at 127.0.0.1:$port (torchrun, $backend)" "process group on the GPU"
  fi
  RANK_RUNS=$rank_runs $PY - <<'PYEOF' || fail "CUDA training runs disagree or did not learn"
import json, math, os, numpy as np
runs = ["cpu", "cu", "cu_gc"] + os.environ["RANK_RUNS"].split()
loss = {w: [json.loads(l)["loss"] for l in open(f"{w}/metrics.jsonl")] for w in runs}
a = loss["cu"]
assert len(a) == 40 and np.mean(a[-5:]) < math.log(16) - 0.5, a  # well below chance
# The first steps as on the CPU in float32, bf16 rounding apart.
assert np.allclose(a[:5], loss["cpu"][:5], rtol=3e-2), (a[:5], loss["cpu"][:5])
# --precision fp32 on the GPU: the CPU's float32 losses, to float rounding.
f = [json.loads(l)["loss"] for l in open("cu_f32/metrics.jsonl")]
assert np.allclose(f[:5], loss["cpu"][:5], rtol=1e-3), (f[:5], loss["cpu"][:5])
# Checkpointing and a process group change nothing but rounding.
assert np.allclose(loss["cu_gc"], a, rtol=2e-2, atol=2e-2), (loss["cu_gc"], a)
if "cu_rank" in loss:
    assert np.allclose(loss["cu_rank"], a, rtol=2e-2, atol=2e-2), (loss["cu_rank"], a)
z = np.load("cu/checkpoint.npz")
assert all(np.isfinite(z[k]).all() for k in z.files if k.startswith("params/"))
PYEOF
  # The checkpoint embeds alike on the GPU and the CPU.
  expect_status 0 clippo-embed cu/checkpoint.npz img/ --npy emb_cpu.npy
  expect_status 0 clippo-embed cu/checkpoint.npz img/ --npy emb_gpu.npy --device cuda
  $PY -c "
import numpy as np
a, b = np.load('emb_cpu.npy'), np.load('emb_gpu.npy')
assert a.shape == b.shape == (48, a.shape[1]) and np.abs(a - b).max() < 1e-4, np.abs(a - b).max()" || fail "GPU and CPU embeddings differ"
else
  expect_status 1 clippo-train --data d-0.shard "${TINY[@]}" --workdir nocuda --device cuda
  expect_contains "$(cat .stderr)" "--device cuda: this libtorch has no CUDA support or no GPU is visible" "no CUDA"
fi

# --- a diverging run stops with the last good checkpoint ------------------------
expect_status 1 clippo-train --data 'd-{0..1}.shard' "${TINY[@]}" --batch-size 8 --steps 50 --lr 1e30 --checkpoint-every 1 --workdir nan
expect_contains "$(cat .stderr)" "is kept: resume it with a lower --lr" "NaN message"
$PY -c "
import numpy as np
z = np.load('nan/checkpoint.npz')
assert all(np.isfinite(z[k]).all() for k in z.files if k.startswith('params/'))" || fail "NaN run left a bad checkpoint"
# A resume may lower the rate: from the resumed step on.
expect_status 0 clippo-train --data 'd-{0..1}.shard' "${TINY[@]}" --steps 2 --schedule constant --lr 0.01 --workdir lr
expect_status 0 clippo-train --workdir lr --steps 4 --lr 0.005
expect_contains "$(cat .stderr)" "warning: lr ran with --lr 0.01; from the resumed step on the peak rate is 0.005" "a new --lr on a resume"
$PY -c "
import json
assert [json.loads(l)['lr'] for l in open('lr/metrics.jsonl')] == [0.01, 0.01, 0.005, 0.005]
assert json.load(open('lr/config.json'))['lr'] == 0.005" || fail "the rate after a resume with a new --lr"

# --- bad command lines and data -----------------------------------------------
expect_status 2 clippo-train --data 'd-{0..1}.shard'
expect_contains "$(cat .stderr)" "--workdir" "missing workdir"
expect_status 1 clippo-train --data missing.shard --workdir bad1 "${TINY[@]}"
expect_contains "$(cat .stderr)" "missing.shard" "missing shard named"
expect_status 2 clippo-train --data 'd-{0..1}.shard' --workdir bad2 "${TINY[@]}" --optimizer sgd
expect_status 2 clippo-train --data 'd-{0..1}.shard' --workdir bad3 "${TINY[@]}" --text-pair-fraction 0.5
echo "not a shard" >junk.shard
expect_status 1 clippo-train --data junk.shard --workdir bad4 "${TINY[@]}" --steps 2
expect_contains "$(cat .stderr)" "no records" "shard without records"
done_testing
