#!/usr/bin/python3
"""numpy reference for clippo-knn's tests: writes embedding shards (plain tar
in webdataset layout) and recomputes search, zero-shot and retrieval results
independently of the C++ code. Run with Debian's /usr/bin/python3 (numpy).

  search_ref.py gen OUTDIR [--n N --dim D --nq Q --ints --f16 --model M]
  search_ref.py check-exact OUTDIR RESULTS.tsv --k K [--no-normalize]
  search_ref.py retrieval-set OUTDIR          (random captions, several per image)
  search_ref.py retrieval OUTDIR              (prints the numpy Recall@1/5/10 as TSV)
  search_ref.py zeroshot-set OUTDIR           (hand-made: known top-1/top-5)
"""
import argparse
import io
import json
import sys
import tarfile

import numpy as np


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def write_shard(path, records, header=None):
    """records: list of (key, {field: bytes|str})."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        def add(name, data):
            if isinstance(data, str):
                data = data.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if header is not None:
            add("__clippo__.json", json.dumps(header))
        for key, fields in records:
            for f, v in fields.items():
                add(f"{key}.{f}", v)


def header(model):
    return {"format": 1, "tool": "search_ref.py", "model": {"path": model, "dim": 0}}


def normalize(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(n > 0, x / np.where(n > 0, n, 1), 0)


def gen(a):
    rng = np.random.default_rng(a.seed)
    if a.ints:
        # small integers: every inner product is exact in float32, so ties are real ties
        db = rng.integers(-3, 4, size=(a.n, a.dim)).astype(np.float32)
        q = rng.integers(-3, 4, size=(a.nq, a.dim)).astype(np.float32)
        db[1::7] = db[0:-1:7][: len(db[1::7])]  # duplicate rows: tied scores at every query
    else:
        db = rng.standard_normal((a.n, a.dim)).astype(np.float32)
        q = rng.standard_normal((a.nq, a.dim)).astype(np.float32)
    dt = np.float16 if a.f16 else np.float32
    db, q = db.astype(dt), q.astype(dt)
    np.save(f"{a.out}/db.npy", db.astype(np.float32))
    np.save(f"{a.out}/q.npy", q.astype(np.float32))
    recs = [(f"r{i:05d}", {"img.npy": npy_bytes(db[i]), "txt": f"caption {i}"}) for i in range(a.n)]
    write_shard(f"{a.out}/db.shard", recs, header(a.model))
    write_shard(f"{a.out}/q.shard", [(f"q{i:03d}", {"txt.npy": npy_bytes(q[i])}) for i in range(a.nq)],
                header(a.model))


def check_exact(a):
    db = np.load(f"{a.out}/db.npy").astype(np.float64)
    q = np.load(f"{a.out}/q.npy").astype(np.float64)
    if not a.no_normalize:
        db, q = normalize(db), normalize(q)
    s = q @ db.T
    rows = [l.rstrip("\n").split("\t") for l in open(a.results) if l.strip()]
    got = {}
    for query, rank, score, key, text in rows:
        got.setdefault(query, []).append((int(rank), float(score), int(key[1:]), text))
    bad = 0
    if len(got) != len(q):
        print(f"expected results for {len(q)} queries, got {len(got)}")
        return 1
    for i in range(len(q)):
        order = sorted(range(len(db)), key=lambda j: (-s[i, j], j))[: a.k]
        res = got.get(f"q{i:03d}", [])
        if [r[0] for r in res] != list(range(1, min(a.k, len(db)) + 1)):
            print(f"q{i:03d}: ranks {[r[0] for r in res]}")
            bad += 1
            continue
        for r, (rank, score, idx, text) in enumerate(res):
            ref_idx = order[r]
            if abs(score - s[i, ref_idx]) > 1e-5:
                print(f"q{i:03d} rank {rank}: score {score} expected {s[i, ref_idx]:.6f}")
                bad += 1
            # Exact ties must be broken by the lower row; float near-ties may swap.
            exact = a.no_normalize
            if (idx != ref_idx) if exact else abs(s[i, idx] - s[i, ref_idx]) > 1e-5:
                print(f"q{i:03d} rank {rank}: row {idx} expected {ref_idx}")
                bad += 1
            if text != f"caption {idx}":
                print(f"q{i:03d} rank {rank}: text {text!r}")
                bad += 1
    print(f"checked {len(q)} queries x {a.k}: {bad} mismatches")
    return 1 if bad else 0


def retrieval_set(a):
    """80 images, 1-3 captions each (noisy copies of the image vector, some
    far off so recall is below 1); some caption records carry no image."""
    rng = np.random.default_rng(a.seed)
    dim, n = 16, 80
    img = rng.standard_normal((n, dim)).astype(np.float32)
    recs, pairs = [], []
    for i in range(n):
        for c in range(rng.integers(1, 4)):
            t = img[i] + rng.normal(scale=rng.choice([0.3, 1.5, 3.0]), size=dim)
            t = t.astype(np.float32)
            fields = {"txt.npy": npy_bytes(t), "txt": f"caption {i}.{c}",
                      "json": json.dumps({"image_id": f"img{i}"})}
            if c == 0:
                fields["img.npy"] = npy_bytes(img[i])  # the first record of a group holds the image
            recs.append((f"s{len(recs):04d}", fields))
            pairs.append((i, t))
    order = rng.permutation(len(recs))  # groups need not be contiguous
    recs = [recs[j] for j in order]
    pairs = [pairs[j] for j in order]
    write_shard(f"{a.out}/ret.shard", recs, header("m"))
    np.save(f"{a.out}/ret_img.npy", img)
    np.save(f"{a.out}/ret_txt.npy", np.stack([t for _, t in pairs]))
    np.save(f"{a.out}/ret_txt_img.npy", np.array([i for i, _ in pairs]))


def retrieval(a):
    img = normalize(np.load(f"{a.out}/ret_img.npy").astype(np.float64))
    txt = normalize(np.load(f"{a.out}/ret_txt.npy").astype(np.float64))
    owner = np.load(f"{a.out}/ret_txt_img.npy")
    s = img @ txt.T
    # image i's rank = best rank among its captions (stable: lower index first on ties)
    i2t_rank = []
    for i in range(len(img)):
        order = np.lexsort((np.arange(len(txt)), -s[i]))
        i2t_rank.append(min(np.nonzero(owner[order] == i)[0]))
    t2i_rank = []
    for t in range(len(txt)):
        order = np.lexsort((np.arange(len(img)), -s[:, t]))
        t2i_rank.append(int(np.nonzero(order == owner[t])[0][0]))
    print(f"images\t{len(img)}\ntexts\t{len(txt)}")
    for k in (1, 5, 10):
        print(f"i2t_recall@{k}\t{np.mean(np.array(i2t_rank) < k):.6f}")
    for k in (1, 5, 10):
        print(f"t2i_recall@{k}\t{np.mean(np.array(t2i_rank) < k):.6f}")


def retrieval_hand(a):
    """3 images on the axes; A has captions a1 (= A) and a2 (looks like B);
    B's only caption b1 sits nearer A; C's caption is C itself. Known answers:
    i2t R@1 2/3 (B's top text is A's a2), R@5 1; t2i R@1 2/4, R@5 1."""
    e = np.eye(3, dtype=np.float32)
    recs = [("a1", {"img.npy": npy_bytes(e[0]), "txt.npy": npy_bytes(e[0]), "json": '{"image_id": "A"}'}),
            ("b1", {"img.npy": npy_bytes(e[1]), "txt.npy": npy_bytes(e[0] + 0.9 * e[1]), "json": '{"image_id": "B"}'}),
            ("c1", {"img.npy": npy_bytes(e[2]), "txt.npy": npy_bytes(e[2])}),
            ("a2", {"txt.npy": npy_bytes(e[1]), "json": '{"image_id": "A"}'})]
    write_shard(f"{a.out}/hand.shard", recs, header("m"))


def bad_sets(a):
    """Inputs clippo-knn must refuse with a clear message."""
    v = lambda d, seed=0: npy_bytes(np.random.default_rng(seed).standard_normal(d).astype(np.float32))
    write_shard(f"{a.out}/noemb.shard", [("a", {"txt": "no vectors here"}), ("b", {"txt": "nor here"})])
    write_shard(f"{a.out}/mixed_dim.shard", [("a", {"img.npy": v(8)}), ("b", {"img.npy": v(16)})])
    write_shard(f"{a.out}/model_a.shard", [("a", {"img.npy": v(8)})], {"model": {"path": "a.npz", "sha256": "aaa"}})
    write_shard(f"{a.out}/model_b.shard", [("b", {"img.npy": v(8)})], {"model": {"path": "b.npz", "sha256": "bbb"}})
    write_shard(f"{a.out}/noheader.shard", [("a", {"img.npy": v(8)}), ("b", {"img.npy": v(8, 1)})])
    write_shard(f"{a.out}/q16.shard", [("q", {"txt.npy": v(16)})])
    write_shard(f"{a.out}/empty.shard", [], header("m"))
    write_shard(f"{a.out}/matrix.shard", [("a", {"img.npy": npy_bytes(np.zeros((2, 8), np.float32))})])
    nan = np.ones(8, np.float32)
    nan[3] = np.nan
    write_shard(f"{a.out}/badnpy.shard", [("a", {"img.npy": v(8)}), ("b", {"img.npy": b"junk"})])
    write_shard(f"{a.out}/nan.shard", [("a", {"img.npy": v(8)}), ("b", {"img.npy": npy_bytes(nan)})])


def model_db(a):
    """A random mu/16 checkpoint at 32 px (tests/ref/model_ref.py) and a
    database of its embeddings computed in numpy: rendered texts
    (tests/ref/render_ref.py) and random PNG images, so that clippo-knn's own
    query embeddings can be checked against independent ones."""
    import hashlib
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import model_ref
    import render_ref
    import make_images
    rng = np.random.default_rng(5)
    res = 32
    params = model_ref.random_params(rng, 32, 1, 128, 2, 16, res, 24)
    ckpt = os.path.abspath(f"{a.out}/mu16_32.npz")
    np.savez(ckpt, **{"params/" + k: v for k, v in model_ref.flatten(params).items()})
    font = render_ref.load_font([render_ref.DEFAULT_FONT])
    texts = ["a dog", "a red car", "a cat on a sofa", "lighthouse at night"]
    gray = np.stack([render_ref.render(t.encode(), font, size=res) for t in texts]).astype(np.float64)
    tin = np.repeat((gray / 255 * 2 - 1)[:, None], 3, axis=1)
    zt, _ = model_ref.forward(params, tin, res)
    pix = rng.integers(0, 256, (3, res, res, 3), dtype=np.uint8)
    for i in range(3):
        make_images.write_png(f"{a.out}/i{i}.png", pix[i])
    zi, _ = model_ref.forward(params, np.transpose(pix / 255 * 2 - 1, (0, 3, 1, 2)), res)
    recs = [(f"t{i}", {"txt.npy": npy_bytes(zt[i].astype(np.float32)), "txt": t, "cls": str(i)})
            for i, t in enumerate(texts)]
    recs += [(f"i{i}", {"img.npy": npy_bytes(zi[i].astype(np.float32)), "json": json.dumps({"path": f"i{i}.png"})})
             for i in range(3)]
    sha = hashlib.sha256(open(ckpt, "rb").read()).hexdigest()
    write_shard(f"{a.out}/model_db.shard", recs,
                {"format": 1, "tool": "search_ref.py", "model": {"path": ckpt, "sha256": sha, "resolution": res}})
    with open(f"{a.out}/texts.txt", "w") as f:
        f.write("\n".join(texts) + "\n")


def zeroshot_set(a):
    """6 classes on the axes of a 8-D space; 2 prompts per class (unit vectors
    that average to the axis); 12 images with known predictions."""
    dim, C = 8, 6
    e = np.eye(dim, dtype=np.float32)
    prompts = []
    for c in range(C):
        for sign in (1, -1):
            p = e[c] + sign * 0.5 * e[7]  # mean of the pair is e[c]
            prompts.append((c, p))
    write_shard(f"{a.out}/prompts.shard",
                [(f"p{j:02d}", {"txt.npy": npy_bytes(p), "cls": str(c)}) for j, (c, p) in enumerate(prompts)],
                header("m"))
    # image vectors: mostly class c, a bit of class d; label y
    cases = [(0, 1, 0), (1, 2, 1), (2, 3, 2), (3, 4, 3), (4, 5, 4), (5, 0, 5),
             (0, 3, 3), (1, 4, 4), (2, 0, 0), (3, 5, 3), (4, 1, 1), (5, 2, 5)]
    recs = []
    for j, (c, d, y) in enumerate(cases):
        v = 1.0 * e[c] + 0.4 * e[d] + 0.1 * (j % 3) * e[6]
        recs.append((f"x{j:02d}", {"img.npy": npy_bytes(v.astype(np.float32)), "cls": str(y),
                                   "json": json.dumps({"label": ["zero", "one", "two", "three", "four", "five"][y]})}))
    write_shard(f"{a.out}/zs.shard", recs, header("m"))
    with open(f"{a.out}/classes.txt", "w") as f:
        f.write("zero\none\ntwo\nthree\nfour\nfive\n")
    # expected: prediction = c; top1 counts c == y; top5 holds y unless y is the least likely class
    top1 = np.mean([c == y for c, d, y in cases])
    print(f"top1\t{top1:.6f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("out")
    ap.add_argument("results", nargs="?")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--nq", type=int, default=20)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ints", action="store_true")
    ap.add_argument("--f16", action="store_true")
    ap.add_argument("--no-normalize", action="store_true")
    ap.add_argument("--model", default="model.npz")
    a = ap.parse_args()
    fn = {"gen": gen, "check-exact": check_exact, "retrieval-set": retrieval_set, "retrieval": retrieval,
          "zeroshot-set": zeroshot_set, "retrieval-hand": retrieval_hand,
          "bad": bad_sets, "model-db": model_db}[a.cmd]
    sys.exit(fn(a) or 0)


if __name__ == "__main__":
    main()
