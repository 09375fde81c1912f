# clippo-train on bad data and at the edges of a run: unusable shards end with
# an error instead of spinning, skipped records are named, a signal stops an
# evaluation, --keep-every keeps its own cadence, metrics.jsonl holds each
# step once after a crash, nonsense options are usage errors that leave no
# workdir, and the process keeps its name.
. "$CLIPPO_SOURCE/tests/cli/lib.sh"

# 24 small noise images with captions and labels; a tar whose images are junk.
$PY - <<'PYEOF' || { echo "fixture generation failed"; exit 1; }
import io, os, tarfile
import numpy as np
rng = np.random.default_rng(0)
os.makedirs("img", exist_ok=True)
with open("caps.tsv", "w") as f:
    for i in range(24):
        a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        open(f"img/{i:02d}.ppm", "wb").write(b"P6\n16 16\n255\n" + a.tobytes())
        f.write(f"{i:02d}.ppm\tthe thing {i % 4}\t{i % 10}\n")
with tarfile.open("junk.tar", "w") as t:
    for i in range(6):
        for field, data in (("jpg", b"\xff\xd8\xffnot a jpeg at all"), ("txt", b"a caption")):
            m = tarfile.TarInfo(f"j{i}.{field}")
            m.size = len(data)
            t.addfile(m, io.BytesIO(data))
PYEOF
clippo-pack -q --images img --captions caps.tsv -o good.shard || fail "clippo-pack"
printf 'One sentence here. Another one there. A third to pair.\n\nMore text now. And then some.\n' >docs.txt
clippo-pack -q --sentences docs.txt -o pairs.shard || fail "clippo-pack --sentences"

TINY=(--variant mu/4 --res 16 --threads 1 --data-threads 1 --log-every 1 --batch-size 4 --shuffle-buffer 0)

# --- shards with nothing usable: an error after one pass, not a loop ----------
expect_status 1 timeout 60 clippo-train --data junk.tar "${TINY[@]}" --steps 2 --workdir w_junk
expect_contains "$(cat .stderr)" "junk.tar: no usable image/caption record in a whole pass" "all images undecodable"
expect_contains "$(cat .stderr)" "junk.tar: j5: corrupt JPEG" "the last failure named"
case "$(cat .stderr)" in *"records repeat"*) fail "a pass with no usable record called smaller than a batch" ;; esac
expect_status 1 timeout 60 clippo-train --data pairs.shard "${TINY[@]}" --steps 2 --workdir w_pairs_as_data
expect_contains "$(cat .stderr)" "no image field" "text pairs given as --data"
expect_status 1 timeout 60 clippo-train --data good.shard --text-pairs good.shard --text-pair-fraction 0.5 \
  "${TINY[@]}" --steps 2 --workdir w_data_as_pairs
expect_contains "$(cat .stderr)" "good.shard: no usable text pair (txt + next.txt) in a whole pass" "images given as --text-pairs"

# --- a directory of shards: only its shards are read ---------------------------
mkdir -p dir/sub && cp good.shard dir/sub/ && cp caps.tsv dir/ && echo '{"good.shard": 24}' >dir/sizes.json
expect_status 0 clippo-train --data dir "${TINY[@]}" --steps 1 --workdir w_dir
[[ "$(cat .stderr)" == *warning* ]] && fail "--data DIR read a file beside the shards: $(grep warning .stderr)"
# Resumed from another folder, the same files: no word. A shard added: a warning.
cd dir; expect_status 0 clippo-train --workdir ../w_dir --steps 2; cd ..
[[ "$(cat .stderr)" == *warning* ]] && fail "a resume over the same files warned: $(grep warning .stderr)"
cp good.shard dir/more.shard
expect_status 0 clippo-train --workdir w_dir --steps 3
expect_contains "$(cat .stderr)" "warning: --data / --text-pairs name other files, or files of other sizes, than when this run last started (1 + 0 files (names and sizes), digest" \
  "a shard added to a --data folder"
expect_status 0 clippo-train --workdir w_dir --steps 4
[[ "$(cat .stderr)" == *warning* ]] && fail "the warning about other files came again: $(grep warning .stderr)"
# A shard rewritten in place under its name (here with fewer records).
head -n 12 caps.tsv >caps12.tsv && clippo-pack -q --images img --captions caps12.tsv -o dir/more.shard || fail "clippo-pack"
expect_status 0 clippo-train --workdir w_dir --steps 5
expect_contains "$(cat .stderr)" "name other files, or files of other sizes, than when this run last started (2 + 0 files" \
  "a shard of the run rewritten in place"
cp good.shard dir/more.shard
expect_status 0 clippo-train --workdir w_dir --steps 6
# The folder's files named one by one are the same data; fewer are not.
expect_status 0 clippo-train --workdir w_dir --steps 7 --data dir/more.shard --data dir/sub/good.shard
[[ "$(cat .stderr)" == *warning* ]] && fail "the folder's files named one by one warned: $(grep warning .stderr)"
expect_status 2 clippo-train --workdir w_dir --steps 8 --data dir/more.shard
expect_contains "$(cat .stderr)" "w_dir holds a run with --data" "other files for --data on a resume"
# Overlapping patterns: the file named twice is read twice a pass, and said.
expect_status 0 clippo-train --data dir --data 'dir/sub/*.shard' "${TINY[@]}" --steps 1 --workdir w_twice
expect_contains "$(cat .stderr)" "warning: --data names 1 file(s) more than once (dir/sub/good.shard): each is read as often as it is named" \
  "a shard named by two patterns"
mkdir empty_dir && cp caps.tsv empty_dir/
expect_status 1 clippo-train --data empty_dir "${TINY[@]}" --steps 1 --workdir w_empty_dir
expect_contains "$(cat .stderr)" "empty_dir: a directory with no shards (.shard, .tar, .tar.gz, .tgz, .tar.zst, .tar.zstd, .tzst) in it" "--data DIR without shards"

# --- skipped records: named with file and key, counted at the end ---------------
expect_status 0 clippo-train --data junk.tar --data good.shard "${TINY[@]}" --steps 4 --workdir w_skip
expect_contains "$(cat .stderr)" "junk.tar: j0: corrupt JPEG" "skipped record named by file and key"
expect_contains "$(cat .stderr)" "6 unusable records skipped" "skipped count at the end"
$PY -c "import json; assert json.loads(open('w_skip/metrics.jsonl').readlines()[-1])['skipped'] == 6" ||
  fail "metrics.jsonl skipped count"
# Blank captions (and blank next sentences) render alike: skipped and
# counted, not trained on as negatives of each other.
$PY - <<'PYEOF' || fail "blank-caption fixtures"
import io, tarfile
def shard(name, records):
    with tarfile.open(name, "w") as t:
        for key, fields in records:
            for field, data in fields:
                m = tarfile.TarInfo(f"{key}.{field}")
                m.size = len(data)
                t.addfile(m, io.BytesIO(data))
ppm = b"P6\n4 4\n255\n" + bytes(range(48))
shard("blank.tar", [(f"b{i}", [("ppm", ppm), ("txt", b"" if i % 2 else b" \n\t ")]) for i in range(5)])
shard("blankpairs.tar", [("p0", [("txt", b"a sentence"), ("next.txt", b"   ")])])
PYEOF
expect_status 0 clippo-train --data blank.tar --data good.shard "${TINY[@]}" --steps 2 --workdir w_blank
expect_contains "$(cat .stderr)" "blank.tar: b0: empty txt (skipped)" "a blank caption named"
expect_contains "$(cat .stderr)" "5 unusable records skipped" "blank captions counted"
expect_status 0 clippo-train --data good.shard --text-pairs blankpairs.tar --text-pairs pairs.shard \
  --text-pair-fraction 0.5 "${TINY[@]}" --steps 1 --workdir w_blank_pairs
expect_contains "$(cat .stderr)" "blankpairs.tar: p0: empty next.txt (skipped)" "a blank next sentence named"
# Names that are not what they must be say what they are.
mkdir -p afolder
for bad in "--font afolder|--font afolder: not a regular file" "--font /dev/null|--font /dev/null: not a regular file" \
  "--eval-data good.shard --eval-classes afolder|--eval-classes afolder: a folder, not a class names file" \
  "--threads 100000|--threads 100000: at most 4096" "--data-threads 100000|--data-threads 100000: must be in [0, 4096]"; do
  read -ra args <<<"${bad%%|*}"
  expect_status 2 clippo-train --data good.shard --variant mu/4 --res 16 --steps 1 --workdir w_named "${args[@]}"
  expect_contains "$(cat .stderr)" "${bad#*|}" "${bad%%|*}"
done
expect_status 1 clippo-train --data '' --variant mu/4 --res 16 --steps 1 --workdir w_named
expect_contains "$(cat .stderr)" "'': an empty name names no file" "--data ''"
expect_status 1 clippo-train --data good.shard --init <(cat good.shard) --steps 1 --workdir w_named
expect_contains "$(cat .stderr)" "not a regular file (a pipe?): a .npz is read by seeking in it" "--init from a pipe"
expect_status 1 env CLIPPO_RENDEZVOUS_TIMEOUT=99999999999 RANK=0 WORLD_SIZE=2 clippo-train --data good.shard \
  "${TINY[@]}" --steps 1 --workdir w_named
expect_contains "$(cat .stderr)" "CLIPPO_RENDEZVOUS_TIMEOUT=99999999999: out of range" "a timeout out of range"
[ -e w_named ] && fail "a refused option made the workdir"
# A folder whose config.json or metrics.jsonl is not clippo-train's keeps them.
mkdir -p w_foreign && echo '{"mine": 1}' >w_foreign/config.json && echo 'my notes' >w_foreign/metrics.jsonl
expect_status 2 clippo-train --data good.shard "${TINY[@]}" --steps 1 --workdir w_foreign
expect_contains "$(cat .stderr)" "w_foreign/config.json: not a clippo-train configuration (unknown field 'mine'" "a foreign config.json"
rm w_foreign/config.json
expect_status 2 clippo-train --data good.shard "${TINY[@]}" --steps 1 --workdir w_foreign
expect_contains "$(cat .stderr)" "w_foreign/metrics.jsonl: its first line is not a clippo-train metrics line" "a foreign metrics.jsonl"
expect_eq "$(cat w_foreign/metrics.jsonl)" "my notes" "a foreign metrics.jsonl kept"
# Captions that a font without their characters renders blank are skipped
# as blank ones: with only such captions, the run stops naming why.
awk -F: '$1 >= "4E00" && $1 <= "9FFF"' /usr/share/unifont/unifont.hex >cjk.hex
expect_status 1 clippo-train --data good.shard "${TINY[@]}" --font cjk.hex --steps 2 --workdir w_cjk
expect_contains "$(cat .stderr)" "txt renders blank: the font has none of its characters" "captions the font cannot draw"
# A pass with fewer usable records than a batch's rows is named; its junk
# does not count (30 records, 24 of them usable).
FEW=(--variant mu/4 --res 16 --threads 1 --data-threads 1 --shuffle-buffer 0 --steps 3)
expect_status 0 clippo-train --data junk.tar --data good.shard "${FEW[@]}" --batch-size 28 --workdir w_few
expect_contains "$(cat .stderr)" "24 usable records a pass (30 in all), fewer than the 28 image/text rows of a batch: records repeat within a batch" "a pass smaller than a batch"
# Its 18 junk records: the first 10 are warnings, the rest shown with -v only.
expect_eq "$(grep -c 'corrupt JPEG.*(skipped' .stderr)" 10 "skip warnings shown"
expect_contains "$(cat .stderr)" "(skipped; further ones are counted, and shown with -v)" "the last skip warning says more are counted"
expect_status 0 clippo-train --data junk.tar --data good.shard "${FEW[@]}" --batch-size 24 --workdir w_enough
case "$(cat .stderr)" in *"records repeat"*) fail "24 usable records called fewer than a batch of 24" ;; esac
# The count is the run's: a resume goes on from the checkpoint's.
expect_status 0 clippo-train --workdir w_skip --steps 8
$PY -c "
import json
s = [json.loads(l)['skipped'] for l in open('w_skip/metrics.jsonl')]
assert s == sorted(s) and s[-1] > 6, s" || fail "skipped count carried over a resume"
# A shard cut short among good ones: reported each pass, counted in
# metrics.jsonl and at the end, the count carried over a resume.
head -c "$(($(stat -c %s good.shard) / 2))" good.shard >cut.shard
expect_status 0 clippo-train --data cut.shard --data good.shard "${TINY[@]}" --steps 12 --workdir w_cut
expect_contains "$(cat .stderr)" "cut.shard" "the damaged shard named"
expect_contains "$(cat .stderr)" "shard read(s) cut short by damage" "damaged reads counted at the end"
expect_status 0 clippo-train --workdir w_cut --steps 24
$PY -c "
import json
d = [json.loads(l)['damaged_reads'] for l in open('w_cut/metrics.jsonl')]
assert d == sorted(d) and d[11] >= 1 and d[-1] > d[11], d" || fail "damaged_reads in metrics.jsonl"
# Bad data that stops a run keeps the steps done: a checkpoint of the last one.
# (An uncompressed copy cut inside a member: the records before it are read.)
clippo-pack -q good.shard --compression none -o plain.shard || fail "clippo-pack --compression none"
head -c "$(($(stat -c %s plain.shard) / 2 + 700))" plain.shard >plain-cut.shard
expect_status 1 clippo-train --data plain-cut.shard "${TINY[@]}" --steps 50 --checkpoint-every 0 --on-error fail --workdir w_cutfail
expect_contains "$(cat .stderr)" "is saved to w_cutfail/checkpoint.npz: run again to resume" "a data error saves the steps done"
saved=$($PY -c "import numpy as np; print(int(np.load('w_cutfail/checkpoint.npz')['state/step'][0]))")
[ "$saved" -ge 1 ] || fail "the checkpoint after a data error holds step $saved"
expect_contains "$(cat .stderr)" "the checkpoint of step $saved is saved" "the step saved named"
# The last step saved is in metrics.jsonl, also off the --log-every cadence.
expect_status 1 clippo-train --data plain-cut.shard --variant mu/4 --res 16 --threads 1 --data-threads 1 --batch-size 4 \
  --shuffle-buffer 0 --log-every 100 --steps 50 --checkpoint-every 0 --on-error fail --workdir w_cutlog
$PY -c "
import json
assert [json.loads(l)['step'] for l in open('w_cutlog/metrics.jsonl')] == sorted({1, $saved})" ||
  fail "metrics.jsonl lacks the last step before a data error: $(cat w_cutlog/metrics.jsonl)"
expect_status 0 clippo-train --workdir w_cutfail --on-error skip --steps $((saved + 2))
expect_contains "$(cat .stderr)" "resuming w_cutfail at step $saved" "the resume after a data error"
# ... and when that save fails too, both errors are told.
expect_status 1 bash -c "trap '' XFSZ; ulimit -f 100; exec clippo-train --data plain-cut.shard ${TINY[*]} --steps 50 \
  --checkpoint-every 0 --on-error fail --workdir w_cutfull"
expect_contains "$(cat .stderr)" "Truncated input file" "the data error, when the save fails too"
expect_contains "$(cat .stderr)" "could not be saved: w_cutfull/checkpoint.npz: cannot write" "the save error after a data error"
# Standard input can be read once; training reads its data each pass.
expect_status 2 clippo-train --data - "${TINY[@]}" --steps 1 --workdir w_stdin </dev/null
expect_contains "$(cat .stderr)" "--data -: training reads its shards again each pass" "--data - refused"
expect_status 2 clippo-train --data good.shard --eval-data - "${TINY[@]}" --steps 1 --workdir w_stdin <good.shard
expect_contains "$(cat .stderr)" "--eval-data -: training reads its shards again each pass" "--eval-data - refused"
expect_status 2 clippo-train --data good.shard --eval-data good.shard --eval-classes mnist --eval-prompts - \
  "${TINY[@]}" --steps 1 --workdir w_stdin <<<'a photo of a {}.'
expect_contains "$(cat .stderr)" "--eval-prompts -: the list is read again on each resume" "--eval-prompts - refused"
expect_status 2 clippo-train --data good.shard --eval-size 5 "${TINY[@]}" --steps 1 --workdir w_stdin
expect_contains "$(cat .stderr)" "--eval-size needs --eval-data" "--eval-size alone"
[ -e w_stdin ] && fail "a refused standard input made the workdir"
expect_status 1 clippo-train --data junk.tar --data good.shard "${TINY[@]}" --steps 4 --on-error fail --workdir w_fail
expect_contains "$(cat .stderr)" "error: junk.tar: j0: corrupt JPEG" "--on-error fail names the record"
# Held-out images that do not decode are named; with --on-error fail they stop the run.
expect_status 0 clippo-train --data good.shard --eval-data junk.tar --eval-data good.shard "${TINY[@]}" --steps 1 \
  --workdir w_evjunk
expect_contains "$(cat .stderr)" "warning: junk.tar: j0: corrupt JPEG" "an eval image that does not decode"
expect_contains "$(cat .stderr)" "evaluating on 24 held-out records (all there are; --eval-size 1000)" "eval records fewer than --eval-size"
expect_contains "$(cat .stderr)" "6 undecodable images skipped" "eval images skipped, counted"
expect_status 1 clippo-train --data good.shard --eval-data junk.tar "${TINY[@]}" --steps 1 --on-error fail --workdir w_evfail
expect_contains "$(cat .stderr)" "error: junk.tar: j0: corrupt JPEG" "--on-error fail for eval images"
# --eval-data '' on a resume: no more evaluation.
expect_status 0 clippo-train --workdir w_evjunk --steps 2 --eval-data ''
case "$(cat .stderr)" in *evaluat*) fail "--eval-data '' still evaluated: $(cat .stderr)" ;; esac
$PY -c "import json; c = json.load(open('w_evjunk/config.json')); assert c['eval_data'] == [] and c['eval_every'] == 0, c" ||
  fail "config.json after --eval-data ''"
expect_status 0 clippo-train --data good.shard --text-pairs pairs.shard --text-pair-fraction 0.1 "${TINY[@]}" --steps 1 \
  --workdir w_unused
expect_contains "$(cat .stderr)" "--text-pairs is unused" "pairs that round to none per batch"
expect_status 0 clippo-train --data good.shard --text-pairs pairs.shard "${TINY[@]}" --steps 1 --workdir w_nofraction
expect_contains "$(cat .stderr)" "--text-pairs is unused: give --text-pair-fraction" "--text-pairs without a fraction"
expect_status 0 clippo-train --data good.shard --variant mu/4 --res 16 --threads 1 --batch-size 32 --steps 2 --workdir w_small
expect_contains "$(cat .stderr)" "good.shard: 24 usable records a pass, fewer than the 32 image/text rows of a batch" \
  "a batch larger than the data"

# --- --keep-every on its own cadence; metrics.jsonl after a crash ---------------
expect_status 0 clippo-train --data good.shard "${TINY[@]}" --steps 7 --keep-every 3 --checkpoint-every 0 --workdir w_keep
expect_eq "$(cd w_keep && ls checkpoint*.npz | tr '\n' ' ')" "checkpoint-000003.npz checkpoint-000006.npz checkpoint.npz " \
  "--keep-every 3 with --checkpoint-every 0"
# A config.json from before --eval-data repeated (a string there) still resumes.
$PY -c "
import json
c = json.load(open('w_keep/config.json')); assert c['eval_data'] == [], c
c['eval_data'] = ''; json.dump(c, open('w_keep/config.json', 'w'))"
expect_status 0 clippo-train --workdir w_keep --steps 8
CLIPPO_TRAIN_KILL_AT_STEP=5 clippo-train --data good.shard "${TINY[@]}" --steps 7 --checkpoint-every 3 \
  --workdir w_crash >/dev/null 2>&1
expect_eq "$?" 137 "exit status of the killed run"
# metrics.jsonl kept elsewhere through a link: the rewrite keeps the link.
mv w_crash/metrics.jsonl crash-metrics.jsonl && ln -s ../crash-metrics.jsonl w_crash/metrics.jsonl
expect_status 0 clippo-train --workdir w_crash
expect_contains "$(cat .stderr)" "2 line(s) past step 3 or unreadable dropped" "the resumed run says what it dropped"
[ -L w_crash/metrics.jsonl ] || fail "the rewrite of metrics.jsonl replaced its symbolic link"
$PY -c "
import json
steps = [json.loads(l)['step'] for l in open('crash-metrics.jsonl')]
assert steps == list(range(1, 8)), steps" || fail "metrics.jsonl after a crash and resume"
# A checkpoint.npz and config.json kept elsewhere through links that dangle
# until the first save: written there, the links kept.
mkdir -p w_links elsewhere && ln -s ../elsewhere/ckpt.npz w_links/checkpoint.npz && ln -s ../elsewhere/config.json w_links/config.json
expect_status 0 clippo-train --data good.shard "${TINY[@]}" --steps 2 --workdir w_links
[ -L w_links/checkpoint.npz ] && [ -L w_links/config.json ] || fail "a save replaced the links in the workdir"
[ -f elsewhere/ckpt.npz ] && [ -f elsewhere/config.json ] || fail "the files behind the links were not written"
expect_status 0 clippo-train --workdir w_links --steps 3
expect_contains "$(cat .stderr)" "resuming w_links at step 2" "a resume through the links"
# What a killed run left beside the files the links lead to goes, but not a
# live process's temporary (the workdir's lock does not cover that folder),
# nor another file's, nor a user's file of a like name.
dead=$(sh -c 'echo $$')
echo 1 >"elsewhere/.ckpt.npz.tmp$dead" && echo 2 >"elsewhere/.ckpt.npz.tmp$dead.AbC123"
echo 3 >"elsewhere/.config.json.tmp$dead" && echo 4 >"elsewhere/.ckpt.npz.tmp$$" && echo 5 >"elsewhere/.other.npz.tmp$dead"
echo 6 >"elsewhere/ckpt.npz.tmp$dead.bak" && echo 7 >"elsewhere/.ckpt.npz.tmp$dead.old" && echo 8 >elsewhere/.config.json.tmp20241201
expect_status 0 clippo-train --workdir w_links --steps 4
expect_contains "$(cat .stderr)" "elsewhere: removed 3 temporary file(s) of a killed run" "stale temporaries beside link targets"
expect_eq "$(cd elsewhere && ls -A | grep tmp | sort | tr '\n' ' ')" \
  "$(printf '%s\n' ".ckpt.npz.tmp$$" ".ckpt.npz.tmp$dead.old" .config.json.tmp20241201 ".other.npz.tmp$dead" "ckpt.npz.tmp$dead.bak" | sort | tr '\n' ' ')" \
  "only the dead run's temporaries of the linked files removed"
# A link to a FIFO (or a device: /dev/null) is refused: the rename would
# replace the FIFO, or the link to it.
mkdir -p w_fifolink && mkfifo elsewhere/fifo && ln -s ../elsewhere/fifo w_fifolink/config.json
expect_status 1 clippo-train --data good.shard "${TINY[@]}" --steps 1 --workdir w_fifolink
expect_contains "$(cat .stderr)" "w_fifolink/config.json: not a regular file" "config.json linked to a FIFO"
[ -p elsewhere/fifo ] && [ -L w_fifolink/config.json ] || fail "writing config.json replaced a link to a FIFO, or the FIFO"

# --- a checkpoint that cannot be written (disk full): an error, the last one kept
expect_status 0 clippo-train --data good.shard "${TINY[@]}" --steps 2 --workdir w_full
cp w_full/checkpoint.npz full-before.npz
# Files may not grow past 100 KiB (ignoring SIGXFSZ, a write past it fails as on a full disk).
expect_status 1 bash -c "trap '' XFSZ; ulimit -f 100; exec clippo-train --workdir w_full --steps 4"
expect_contains "$(cat .stderr)" "error: w_full/checkpoint.npz: cannot write" "checkpoint write error named"
cmp -s w_full/checkpoint.npz full-before.npz || fail "a failed checkpoint write changed the last checkpoint"
expect_eq "$(ls -A w_full | tr '\n' ' ')" ".lock checkpoint.npz config.json metrics.jsonl " "no temporary file left"
expect_status 0 clippo-train --workdir w_full --steps 4
$PY -c "
import json, numpy as np
assert int(np.load('w_full/checkpoint.npz')['state/step'][0]) == 4
assert [json.loads(l)['step'] for l in open('w_full/metrics.jsonl')] == [1, 2, 3, 4]" ||
  fail "the run resumed after a failed checkpoint write"

# --- a signal during an evaluation ends it: the checkpoint is written at once ---
# 80,000 ImageNet prompts at 48 px take half a minute on one core.
clippo-train --data good.shard --eval-data good.shard --eval-classes imagenet --eval-every 1 --variant mu/4 --res 48 \
  --threads 1 --data-threads 1 --batch-size 4 --steps 3 --workdir w_evalsig >evalsig.log 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s w_evalsig/metrics.jsonl ] && break; sleep 0.1; done
# (The start-up re-exec that sets OMP_WAIT_POLICY keeps the process's name.)
expect_eq "$(cat /proc/$pid/comm)" clippo-train "process name, as ps and pgrep see it"
sleep 1
kill -INT $pid
wait $pid
expect_eq "$?" 130 "exit status after SIGINT during the evaluation"
expect_contains "$(cat evalsig.log)" "step 1: evaluation stopped by signal" "evaluation stopped"
# (The bundled list repeats two names, as ImageNet does: nothing to warn about.)
grep -q "repeat" evalsig.log && fail "a warning about the bundled ImageNet class names"
grep -q 'eval/' w_evalsig/metrics.jsonl && fail "the interrupted evaluation wrote results"
$PY -c "import numpy as np; assert int(np.load('w_evalsig/checkpoint.npz')['state/step'][0]) == 1" ||
  fail "checkpoint after SIGINT during the evaluation"
# The resume runs the evaluation the signal cut short; a signal during that
# one stops the run with the signal's status, not 0, although no step is left.
clippo-train --workdir w_evalsig --steps 1 >redo.log 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q "evaluating the resumed checkpoint" redo.log && break; sleep 0.1; done
wait_for_sigint_handler $pid || fail "no SIGINT handler during the redone evaluation"
sleep 1
kill -INT $pid
wait $pid
expect_eq "$?" 130 "exit status after SIGINT during the redone evaluation"
# With a short class list it runs to its end.
expect_status 0 clippo-train --workdir w_evalsig --steps 1 --eval-classes mnist --eval-prompts clip7
expect_contains "$(cat .stderr)" "step 1: evaluating the resumed checkpoint (metrics.jsonl has no evaluation of it)" "the cut evaluation redone"
$PY -c "
import json
e = [json.loads(l) for l in open('w_evalsig/metrics.jsonl') if 'eval/' in l]
assert [x['step'] for x in e] == [1] and 'eval/zeroshot_top1' in e[0], e" || fail "the redone evaluation's results"
expect_status 0 clippo-train --workdir w_evalsig --steps 1
case "$(cat .stderr)" in *"evaluating the resumed checkpoint"*) fail "an evaluation done was run again" ;; esac

# --- the workdir: one run at a time; kept copies whole; stale temporaries go; a
# metrics.jsonl that cannot be written stops the run
clippo-train --data good.shard "${TINY[@]}" --steps 100000 --workdir w_lock -q &
pid=$!
for _ in $(seq 300); do [ -s w_lock/metrics.jsonl ] && break; sleep 0.1; done
expect_status 1 clippo-train --workdir w_lock --steps 5
expect_contains "$(cat .stderr)" "error: w_lock is in use by another clippo-train (process $pid)" "a second run in a workdir"
kill -TERM $pid
wait $pid
expect_eq "$?" 143 "the first run, stopped"
head -c 1000 w_lock/checkpoint.npz >w_lock/checkpoint.npz.tmp12345
head -c 1000 w_lock/checkpoint.npz >w_lock/checkpoint.npz.tmp12345.AbC123
echo '{}' >w_lock/.config.json.tmp999
echo 'mine' >w_lock/notes.tmp1
# The last line without its newline: the next line must not join it.
printf '%s' "$(cat w_lock/metrics.jsonl)" >w_lock/metrics.jsonl
step=$($PY -c "import numpy as np; print(int(np.load('w_lock/checkpoint.npz')['state/step'][0]))")
expect_status 0 clippo-train --workdir w_lock --steps $((step + 3)) --keep-every 1
expect_contains "$(cat .stderr)" "removed 3 temporary file(s) of a killed run" "stale temporaries removed"
expect_eq "$(ls -A w_lock | grep -c tmp)" 1 "only the temporaries of clippo-train removed"
[ "$(stat -c %h w_lock/checkpoint.npz)" = 1 ] || fail "a kept copy shares its file with checkpoint.npz"
$PY -c "
import json
steps = [json.loads(l)['step'] for l in open('w_lock/metrics.jsonl')]
assert steps == list(range(1, $step + 4)), steps" || fail "metrics.jsonl whose last line had no newline"
# Kept copies are links to (or copies of) the checkpoint of their step.
cmp -s w_lock/checkpoint.npz "w_lock/checkpoint-$(printf %06d $((step + 3))).npz" || fail "the kept copy of the last step"
mkdir -p w_full_metrics && ln -s /dev/full w_full_metrics/metrics.jsonl
expect_status 1 clippo-train --data good.shard "${TINY[@]}" --steps 2 --workdir w_full_metrics
expect_contains "$(cat .stderr)" "error: w_full_metrics/metrics.jsonl: cannot write" "metrics.jsonl write error"

# --- the terminal or the pipe reading stderr goes away: a stop with a checkpoint
clippo-train --data good.shard "${TINY[@]}" --steps 100000 --checkpoint-every 0 --workdir w_pipe 2>&1 | head -2 >/dev/null
expect_eq "${PIPESTATUS[0]}" 141 "exit status once the pipe reading stderr closed"
[ -f w_pipe/checkpoint.npz ] || fail "no checkpoint once the pipe reading stderr closed"
# (TINY's sizes, with a log line at the first step only: the last comes with the stop.)
clippo-train --data good.shard --variant mu/4 --res 16 --threads 1 --data-threads 1 --batch-size 4 \
  --shuffle-buffer 0 --log-every 100000 --steps 100000 --checkpoint-every 0 --workdir w_hup -q &
pid=$!
for _ in $(seq 300); do [ -s w_hup/metrics.jsonl ] && break; sleep 0.1; done
sleep 0.5
# Twice, as a closing terminal sends it: the second must not end the save.
kill -HUP $pid
kill -HUP $pid
wait $pid
expect_eq "$?" 129 "exit status after SIGHUP"
[ -f w_hup/checkpoint.npz ] || fail "no checkpoint after SIGHUP"
$PY -c "
import json, numpy as np
steps = [json.loads(l)['step'] for l in open('w_hup/metrics.jsonl')]
saved = int(np.load('w_hup/checkpoint.npz')['state/step'][0])
assert saved > 1 and steps == [1, saved], (steps, saved)" || fail "the step a signal stopped at is not in metrics.jsonl"
# Started with SIGHUP ignored (nohup): it goes on.
(trap '' HUP && exec clippo-train --data good.shard "${TINY[@]}" --steps 100000 --workdir w_nohup -q) &
pid=$!
for _ in $(seq 300); do [ -s w_nohup/metrics.jsonl ] && break; sleep 0.1; done
kill -HUP $pid
sleep 1
kill -0 $pid 2>/dev/null || fail "SIGHUP stopped a run started with it ignored (nohup)"
kill -TERM $pid
wait $pid
expect_eq "$?" 143 "exit status after SIGTERM of a run under nohup"

# A checkpoint put in a new workdir and named by --init: not silently resumed.
mkdir -p w_initself && cp w_keep/checkpoint.npz w_initself/
expect_status 2 clippo-train --data good.shard "${TINY[@]}" --steps 1 --init w_initself/checkpoint.npz --workdir w_initself
expect_contains "$(cat .stderr)" "w_initself holds checkpoint.npz (a run to resume) but no config.json, and --init starts a new run" \
  "--init with a checkpoint in the workdir"
# Half of torchrun's pair would have trained one process alone.
expect_status 1 env WORLD_SIZE=2 clippo-train --data good.shard "${TINY[@]}" --steps 1 --workdir w_norank
expect_contains "$(cat .stderr)" "WORLD_SIZE=2 without RANK: set both for each process" "WORLD_SIZE without RANK"
# Under Slurm the rank is SLURM_PROCID's (here a job of one task: one process).
expect_status 0 env WORLD_SIZE=2 SLURM_PROCID=0 SLURM_NTASKS=1 clippo-train --data good.shard "${TINY[@]}" --steps 1 \
  --workdir w_slurm_world

# --- nonsense options: usage errors, and no workdir is made ---------------------
for bad in "--res 0" "--res -32" "--out-dim -1" "--shuffle-buffer -1" "--data-threads -1" "--variant Ti" \
           "--variant Q/16" "--init-skip nothing --init w_keep/checkpoint.npz"; do
  # shellcheck disable=SC2086
  expect_status 2 clippo-train --data good.shard --variant mu/4 --res 16 --threads 1 $bad --steps 1 --workdir w_bad
  [ -e w_bad ] && { fail "$bad left w_bad behind"; rm -rf w_bad; }
done
expect_status 2 clippo-train --data good.shard --variant mu/4 --res 16 --threads 1 --init w_keep/checkpoint.npz \
  --init-skip Head --steps 1 --workdir w_bad
expect_contains "$(cat .stderr)" "--init-skip Head: no array of a mu/4 model has 'Head' in its path" "--init-skip that matches nothing"
expect_status 0 clippo-train --data good.shard "${TINY[@]}" --init w_keep/checkpoint.npz --init-skip head --steps 1 \
  --workdir w_skiphead
expect_contains "$(cat .stderr)" "--init-skip head: params/img/head/bias kept fresh (2 arrays)" "--init-skip lists what it kept fresh"
# --init without --variant or --res: the checkpoint's model, saved as if given.
expect_status 0 clippo-train --data good.shard --variant w16-d2-h2-m32/4 --res 16 --out-dim 8 --threads 1 --batch-size 4 \
  --steps 1 --workdir w_init0
expect_status 0 clippo-train --data good.shard --init w_init0/checkpoint.npz --threads 1 --batch-size 4 --steps 1 \
  --workdir w_init1
expect_contains "$(cat .stderr)" "the checkpoint's variant w16-d2-h2-m32/4, out dim 8, resolution 16 px" "--init's model taken"
$PY -c "
import json
c = json.load(open('w_init1/config.json'))
assert (c['variant'], c['res'], c['out_dim']) == ('w16-d2-h2-m32/4', 16, 8), c" || fail "config.json of a run with --init's model"
expect_status 0 clippo-train --data good.shard --init w_init0/checkpoint.npz --out-dim 0 --init-skip head --threads 1 \
  --batch-size 4 --steps 1 --workdir w_init_out0
$PY -c "import json; assert json.load(open('w_init_out0/config.json'))['out_dim'] == 0" || fail "--out-dim 0 given with --init"
# A shallower model: the blocks it has no place for are named; leaf names skip.
expect_status 0 clippo-train --data good.shard --init w_init0/checkpoint.npz --variant w16-d1-h2-m32/4 --out-dim 8 \
  --init-skip pos_embedding --threads 1 --batch-size 4 --steps 1 --workdir w_init2
expect_contains "$(cat .stderr)" "--init-skip pos_embedding: params/img/pos_embedding kept fresh (1 array)" "--init-skip a leaf"
expect_contains "$(cat .stderr)" "warning: --init w_init0/checkpoint.npz: 16 arrays that a w16-d1-h2-m32/4 model does not have left out: params/img/Transformer/encoderblock_1/" \
  "init arrays left out"
# A deeper model: the missing blocks are named, and skipping them starts them afresh.
expect_status 1 clippo-train --data good.shard --init w_init0/checkpoint.npz --variant w16-d3-h2-m32/4 --out-dim 8 \
  --threads 1 --batch-size 4 --steps 1 --workdir w_deeper_fail
expect_contains "$(cat .stderr)" "(the model has 3 blocks, the checkpoint lacks 1: --init-skip encoderblock_N for each N of 2 starts them afresh)" \
  "a deeper model: the hint"
# Blocks of another size (not a deeper model): the shapes are named, no such hint.
expect_status 1 clippo-train --data good.shard --init w_init0/checkpoint.npz --variant w16-d2-h2-m64/4 --out-dim 8 \
  --threads 1 --batch-size 4 --steps 1 --workdir w_wider_fail
expect_contains "$(cat .stderr)" "has shape" "an MLP of another size: the shapes"
[[ "$(cat .stderr)" == *"--init-skip encoderblock"* ]] && fail "an MLP of another size was taken for a deeper model"
expect_status 0 clippo-train --data good.shard --init w_init0/checkpoint.npz --variant w16-d3-h2-m32/4 --out-dim 8 \
  --init-skip encoderblock_2 --threads 1 --batch-size 4 --steps 1 --workdir w_deeper
expect_status 1 clippo-train --data good.shard --init w_init0/checkpoint.npz --out-dim 4 --threads 1 --batch-size 4 \
  --steps 1 --workdir w_init3
expect_contains "$(cat .stderr)" "(--init-skip head starts the head afresh" "a head of another size: the hint"
# A checkpoint without its config.json: say so, not "a new run".
mkdir w_noconf && cp w_keep/checkpoint.npz w_noconf/
expect_status 2 clippo-train --workdir w_noconf
expect_contains "$(cat .stderr)" "holds checkpoint.npz but no config.json" "checkpoint without config.json"
# Given its data again, it resumes with the checkpoint's sizes (not B/16 at 224 px).
s=$($PY -c "import numpy as np; print(int(np.load('w_noconf/checkpoint.npz')['state/step'][0]))")
expect_status 0 clippo-train --workdir w_noconf --data good.shard --threads 1 --batch-size 4 --shuffle-buffer 0 --steps $((s + 1))
expect_contains "$(cat .stderr)" "w_noconf/checkpoint.npz: the checkpoint's variant mu/4, resolution 16 px" "sizes of a checkpoint without config.json"
expect_contains "$(cat .stderr)" "resuming w_noconf at step $s" "a checkpoint without config.json resumed"
# It takes the checkpoint's seed and out dim too (also with --variant given),
# and refuses a --seed it was not written with.
expect_status 0 clippo-train --data good.shard "${TINY[@]}" --seed 3 --out-dim 8 --steps 1 --workdir w_seeded
rm w_seeded/config.json
expect_status 2 clippo-train --workdir w_seeded --data good.shard "${TINY[@]}" --seed 4 --steps 2
expect_contains "$(cat .stderr)" "--seed 4: w_seeded/checkpoint.npz was written by a run with --seed 3" \
  "another --seed for a checkpoint without config.json"
expect_status 0 clippo-train --workdir w_seeded --data good.shard "${TINY[@]}" --steps 2
expect_contains "$(cat .stderr)" "w_seeded/checkpoint.npz: the checkpoint's out dim 8" "the out dim of a checkpoint without config.json"
expect_contains "$(cat .stderr)" "w_seeded/checkpoint.npz: seed 3, the checkpoint's" "the seed of a checkpoint without config.json"
$PY -c "
import json, numpy as np
c = json.load(open('w_seeded/config.json'))
assert c['seed'] == 3 and c['out_dim'] == 8, c
assert int(np.load('w_seeded/checkpoint.npz')['state/seed'][0]) == 3" || fail "a resume without config.json kept its seed"
# A config.json whose on_error is neither skip nor fail is named.
$PY -c "
import json
c = json.load(open('w_seeded/config.json')); c['on_error'] = 'maybe'; json.dump(c, open('w_seeded/config.json', 'w'))"
expect_status 1 clippo-train --workdir w_seeded --steps 3
expect_contains "$(cat .stderr)" "w_seeded/config.json: on_error 'maybe': expected skip or fail" "a bad on_error in config.json"
# A cosine schedule extended on resume: a warning that the learning rate jumps.
expect_status 0 clippo-train --data good.shard "${TINY[@]}" --schedule cosine --steps 2 --workdir w_cos
expect_status 0 clippo-train --workdir w_cos --steps 3
expect_contains "$(cat .stderr)" "its cosine schedule is over --steps 2" "warning for a longer cosine run"
# --out-dim 32 is the mu model's 0 (its width); 16 is another model.
expect_status 2 clippo-train --workdir w_cos --steps 3 --out-dim 16
expect_contains "$(cat .stderr)" "w_cos holds a run with --out-dim 0" "another --out-dim on a resume"
expect_status 0 clippo-train --workdir w_cos --steps 3 --out-dim 32
# A run saved before sizes counted holds the digest of the names alone
# (FNV-1a, restated here): its own files resume without a word, others warn.
legacy_digest() {
  $PY - "$1" <<'PYEOF' || fail "legacy digest fixture"
import json, os, sys
h = 0xcbf29ce484222325
def mix(b):
    global h
    for ch in b: h = ((h ^ ch) * 0x100000001b3) % 2**64
mix((os.path.abspath(sys.argv[1]) + "\n").encode()); mix(b"\xff"); mix(b"\xff")
c = json.load(open("w_cos/config.json"))
c["data_files"] = f"1 + 0 files, digest {h:016x}"
json.dump(c, open("w_cos/config.json", "w"))
PYEOF
}
legacy_digest good.shard
expect_status 0 clippo-train --workdir w_cos --steps 4
[[ "$(cat .stderr)" == *"name other files"* ]] && fail "a run saved with the names-only digest of its files warned"
legacy_digest other.shard
expect_status 0 clippo-train --workdir w_cos --steps 5
expect_contains "$(cat .stderr)" "name other files, or files of other sizes" "a names-only digest of other files"
# --grad-checkpointing holds for the command it is given to.
expect_status 0 clippo-train --data good.shard "${TINY[@]}" --steps 1 --grad-checkpointing --workdir w_gc
expect_status 0 clippo-train --workdir w_gc --steps 2
$PY -c "import json; assert json.load(open('w_gc/config.json'))['grad_checkpointing'] is False" ||
  fail "a resume without --grad-checkpointing kept it on"
expect_status 0 clippo-train --workdir w_gc --steps 3 --grad-checkpointing
expect_status 2 clippo-train --workdir w_gc --steps 4 --init w_gc/checkpoint.npz
expect_contains "$(cat .stderr)" "w_gc holds a run without --init; start a new --workdir to change it" "an option the run had not"
expect_status 2 clippo-train --workdir w_gc --steps 4 --init-skip head
expect_contains "$(cat .stderr)" "w_gc holds a run without --init-skip; start" "a list option the run had not"
expect_status 2 clippo-train --workdir w_gc --steps 1
expect_contains "$(cat .stderr)" "--steps 1: w_gc is at step 3 already" "--steps below the steps done"
$PY -c "import json; assert json.load(open('w_gc/config.json'))['steps'] == 3" || fail "--steps below the steps done was saved"
# A resume whose new eval options fail leaves the saved ones.
printf 'a\nb\nc\n' >three.txt
expect_status 1 clippo-train --workdir w_gc --steps 4 --eval-data good.shard --eval-classes three.txt
expect_contains "$(cat .stderr)" "is not a class index of --eval-classes" "labels past the class list"
$PY -c "import json; c = json.load(open('w_gc/config.json')); assert c['eval_data'] == [] and c['steps'] == 3, c" ||
  fail "a failed resume changed config.json"
mkdir -p w_cfgdir/config.json
expect_status 1 clippo-train --workdir w_cfgdir
expect_contains "$(cat .stderr)" "w_cfgdir/config.json: not a file" "config.json that is a folder"
# A config.json edited by hand with a field this version does not know.
cp -r w_cos w_typo
$PY -c "
import json
c = json.load(open('w_typo/config.json')); c['stpes'] = 9; json.dump(c, open('w_typo/config.json', 'w'))"
expect_status 1 clippo-train --workdir w_typo
expect_contains "$(cat .stderr)" "w_typo/config.json: unknown field 'stpes'" "an unknown field in config.json"
# Hand edits: a whole number written as 2.0 is one; a seed past int64 (as
# versions that read --seed -1 as 2^64-1 saved it) or a batch of one is
# named as config.json's, not as an option the command line did not give.
expect_status 0 clippo-train --data good.shard "${TINY[@]}" --steps 1 --workdir w_edit
edit() { $PY -c "
import json
c = json.load(open('w_edit/config.json')); c.update($1); json.dump(c, open('w_edit/config.json', 'w'))"; }
edit "{'log_every': 2.0}"
expect_status 0 clippo-train --workdir w_edit --steps 2
edit "{'seed': 18446744073709551615}"
expect_status 1 clippo-train --workdir w_edit --steps 3
expect_contains "$(cat .stderr)" "w_edit/config.json: field 'seed' is 18446744073709551615: not a whole number in range" "a seed past int64"
edit "{'seed': 0, 'batch_size': 1}"
expect_status 1 clippo-train --workdir w_edit --steps 3
expect_contains "$(cat .stderr)" "w_edit/config.json: --batch-size 1: must be at least 2" "a batch of one in config.json"
# A seed past 2^53 (from date +%s%N) comes back from config.json exactly,
# so the resume keeps the data order and accepts the same --seed.
expect_status 0 clippo-train --data good.shard "${TINY[@]}" --steps 1 --seed 1764662400123456789 --workdir w_seed
expect_status 0 clippo-train --workdir w_seed --steps 2 --seed 1764662400123456789
$PY -c "
import json, numpy as np
assert json.load(open('w_seed/config.json'))['seed'] == 1764662400123456789
assert int(np.load('w_seed/checkpoint.npz')['state/seed'][0]) == 1764662400123456789" ||
  fail "a large seed did not survive the resume"
# A workdir that cannot be one: said before any work.
touch w_afile && ln -s nowhere/deeper w_dangling
expect_status 2 clippo-train --data good.shard "${TINY[@]}" --steps 1 --workdir w_afile
expect_contains "$(cat .stderr)" "error: --workdir w_afile: not a folder" "a workdir that is a file"
expect_status 2 clippo-train --data good.shard "${TINY[@]}" --steps 1 --workdir w_dangling
expect_contains "$(cat .stderr)" "--workdir w_dangling: a symbolic link to nowhere/deeper, which does not exist" \
  "a workdir that is a dangling link"
$PY -c "import json; assert json.load(open('w_gc/config.json'))['grad_checkpointing'] is True" ||
  fail "a resume could not turn --grad-checkpointing on"

# Options that cannot work are usage errors before the workdir is made.
mkfifo fifo.shard  # never opened: the run would wait for a writer
: >empty.hex && printf '0041:00000000000000000000000000000000\n0042:xyz\n' >bad.hex
# (Sizes TINY sets.)
while IFS='|' read -r opts want; do
  # shellcheck disable=SC2086
  expect_status 2 clippo-train --data good.shard --steps 1 $opts --workdir w_bad
  expect_contains "$(cat .stderr)" "$want" "$opts"
  [ -e w_bad ] && { fail "$opts left a workdir"; rm -rf w_bad; }
done <<'EOF_CASES'
--variant mu/4 --res 1024|resolution 1024 makes 65536 patches an image, more than 16384
--variant mu/4 --res 16 --batch-size 1|--batch-size 1: must be at least 2 (the contrastive loss needs negatives)
--variant mu/4 --res 16 --batch-size 4294967304|--batch-size 4294967304: at most 16777216
EOF_CASES
while IFS='|' read -r opts want; do
  # shellcheck disable=SC2086
  expect_status 2 clippo-train "${TINY[@]}" --steps 2 $opts --workdir w_bad
  expect_contains "$(cat .stderr)" "$want" "$opts"
  [ -e w_bad ] && { fail "$opts left a workdir"; rm -rf w_bad; }
done <<'EOF_CASES'
--text-pairs good.shard|--data: no image/text shards (give --data, or --text-pair-fraction 1
--data good.shard --text-pair-fraction 0.5|--text-pair-fraction needs --text-pairs shards
--data good.shard --text-pairs good.shard --text-pair-fraction 1.5|--text-pair-fraction 1.5: must be in [0, 1]
--data good.shard --text-pairs good.shard --text-pair-fraction nan|--text-pair-fraction nan: must be in [0, 1]
--data good.shard --seed -1|--seed -1: must be >= 0
--data good.shard --init-skip head|--init-skip needs --init
--data fifo.shard|--data fifo.shard: not a regular file (a pipe?), and training reads its shards more than once
--data good.shard --eval-data fifo.shard|--eval-data fifo.shard: not a regular file
--data good.shard --font /nonexistent.hex|--font /nonexistent.hex: no such file
--data good.shard --font empty.hex|--font: empty.hex: no glyphs in it (text would render blank)
--data good.shard --font bad.hex|--font: bad.hex:2: not a Unifont .hex line
--data good.shard --eval-size 0|--eval-size 0: must be >= 1
--data good.shard --lr nan|--lr nan: must be a number >= 0
--data good.shard --momentum 1|--momentum 1: must be in [0, 1)
--data good.shard --wd 1|--wd 1: must be below 1 (each step scales kernels by 1 - WD at the peak rate)
--data good.shard --eval-data good.shard --eval-classes bogus.txt|--eval-classes bogus.txt: 
--data good.shard --eval-data good.shard --eval-classes mnist --eval-prompts clip8|--eval-prompts clip8: 
--data good.shard --eval-data good.shard --eval-prompts clip7|--eval-prompts needs --eval-classes
EOF_CASES
done_testing
