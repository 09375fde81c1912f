#!/usr/bin/python3
"""Reference data for the CLIPPO model tests (numpy only).

Writes small random checkpoints in the exact big_vision layout (np.savez,
np.savez_compressed, stacked blocks, bfloat16 members as '<V2') plus inputs
and reference outputs computed by an independent float64 restatement of the
big_vision one-tower forward pass (models/vit.py + proj/clippo/one_tower.py),
and malformed checkpoints for the error tests.

  model_ref.py gen OUTDIR          write everything under OUTDIR
  model_ref.py check-written FILE  check a .npz the C++ writer produced
  model_ref.py resave IN OUT [compressed|stored]
                                   np.load IN, np.savez_compressed / np.savez to OUT
  model_ref.py embed CKPT RES IN.npy OUT.npy [pre_logits]
                                   reference embeddings of NCHW inputs
  model_ref.py make-ckpt VARIANT RES OUT_DIM FILE
                                   a random checkpoint of a named variant
                                   ("B/16") in the big_vision layout
  model_ref.py write-ppm FILE W H SEED
                                   a random RGB binary PPM image
  model_ref.py embed-files CKPT OUT.npy FILE...
                                   reference embeddings of PPM files (big_vision
                                   preprocessing: bilinear resize with half-pixel
                                   centres, no antialias, then [-1, 1])
  model_ref.py embed-text CKPT OUT.npy < LINES
                                   reference embeddings of text lines rendered
                                   by render_ref.py (Debian's unifont)
"""
import io
import json
import os
import sys
import zipfile

import numpy as np

VARIANTS = {  # name: width, depth, mlp_dim, heads (big_vision vit.decode_variant)
    "mu": (32, 1, 128, 2), "Ti": (192, 12, 768, 3), "S": (384, 12, 1536, 6),
    "B": (768, 12, 3072, 12),
}


# ---- the forward pass, float64 ----------------------------------------------

def layer_norm(x, p):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-6) * p["scale"] + p["bias"]


def gelu_tanh(x):  # flax nn.gelu(approximate=True)
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def mha(p, inputs_q, inputs_kv):
    """flax MultiHeadDotProductAttention: DenseGeneral (D,H,hd) projections."""
    q = np.einsum("nld,dhk->nlhk", inputs_q, p["query"]["kernel"]) + p["query"]["bias"]
    k = np.einsum("nld,dhk->nlhk", inputs_kv, p["key"]["kernel"]) + p["key"]["bias"]
    v = np.einsum("nld,dhk->nlhk", inputs_kv, p["value"]["kernel"]) + p["value"]["bias"]
    q = q / np.sqrt(q.shape[-1])
    w = softmax(np.einsum("nqhk,nlhk->nhql", q, k))
    o = np.einsum("nhql,nlhk->nqhk", w, v)
    return np.einsum("nqhk,hkd->nqd", o, p["out"]["kernel"]) + p["out"]["bias"]


def mlp_block(p, x):
    h = gelu_tanh(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    return h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]


def posemb_sincos_2d(h, w, width, temperature=10000.0):
    y, x = np.mgrid[:h, :w]
    omega = np.arange(width // 4) / (width // 4 - 1)
    omega = 1.0 / (temperature ** omega)
    y = np.einsum("m,d->md", y.flatten(), omega)
    x = np.einsum("m,d->md", x.flatten(), omega)
    return np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1)[None]


def zoom_linear(grid, new):
    """scipy.ndimage.zoom(grid, (new/g, new/g, 1), order=1): corners aligned."""
    g = grid.shape[0]
    coords = np.arange(new) * (g - 1) / (new - 1) if new > 1 else np.zeros(1)
    lo = np.floor(coords).astype(int)
    hi = np.minimum(lo + 1, g - 1)
    f = coords - lo
    rows = grid[lo] * (1 - f)[:, None, None] + grid[hi] * f[:, None, None]
    return rows[:, lo] * (1 - f)[None, :, None] + rows[:, hi] * f[None, :, None]


def resample_posemb(old, gs_new):
    gs_old = int(round(np.sqrt(old.shape[1])))
    if gs_old == gs_new:
        return old
    grid = old.reshape(gs_old, gs_old, -1)
    return zoom_linear(grid, gs_new).reshape(1, gs_new * gs_new, -1)


def blocks_of(tr):
    """Per-block parameter dicts, from either layout."""
    if "encoderblock" in tr:  # nn.scan: leading depth axis
        stacked = tr["encoderblock"]
        depth = next(iter(flatten(stacked).values())).shape[0]
        return [unflatten({k: v[i] for k, v in flatten(stacked).items()}) for i in range(depth)]
    out, i = [], 0
    while f"encoderblock_{i}" in tr:
        out.append(tr[f"encoderblock_{i}"])
        i += 1
    return out


def forward(params, images, res):
    """images: (N, 3, res, res) in [-1, 1]. Returns (z, pre_logits)."""
    img = params["img"]
    x = np.transpose(images.astype(np.float64), (0, 2, 3, 1))  # NHWC as big_vision
    k = img["embedding"]["kernel"]
    p, width = k.shape[0], k.shape[3]
    n, g = x.shape[0], res // p
    x = np.einsum("nyixjc,ijcd->nyxd", x.reshape(n, g, p, g, p, 3), k) + img["embedding"]["bias"]
    x = x.reshape(n, g * g, width)
    if "pos_embedding" in img:
        x = x + resample_posemb(img["pos_embedding"], g)
    else:
        x = x + posemb_sincos_2d(g, g, width)
    if "cls" in img:
        x = np.concatenate([np.tile(img["cls"], (n, 1, 1)), x], axis=1)
    for b in blocks_of(img["Transformer"]):
        y = layer_norm(x, b["LayerNorm_0"])
        x = x + mha(b["MultiHeadDotProductAttention_0"], y, y)
        y = layer_norm(x, b["LayerNorm_1"])
        x = x + mlp_block(b["MlpBlock_0"], y)
    x = layer_norm(x, img["Transformer"]["encoder_norm"])
    if "MAPHead_0" in img:
        m = img["MAPHead_0"]
        probe = np.tile(m["probe"], (n, 1, 1))
        x = mha(m["MultiHeadDotProductAttention_0"], probe, x)
        x = x + mlp_block(m["MlpBlock_0"], layer_norm(x, m["LayerNorm_0"]))
        pooled = x[:, 0]
    elif "cls" in img:
        pooled = x[:, 0]
    else:
        pooled = x.mean(axis=1)
    z = pooled @ img["head"]["kernel"] + img["head"]["bias"] if "head" in img else pooled
    z = z / (np.linalg.norm(z, axis=-1, keepdims=True) + 1e-8)
    return z, pooled


# ---- parameters ---------------------------------------------------------------

def flatten(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flatten(v, prefix + k + "/"))
        else:
            out[prefix + k] = v
    return out


def unflatten(flat):
    tree = {}
    for k, v in flat.items():
        node = tree
        parts = k.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = v
    return tree


def random_params(rng, width, depth, mlp_dim, heads, patch, res, out_dim, pool="map", posemb="learn"):
    hd = width // heads
    g = res // patch

    def nrm(*shape, std=0.02):
        return rng.normal(0.0, std, shape).astype(np.float32)

    def ln():
        return {"scale": (1.0 + nrm(width, std=0.1)), "bias": nrm(width, std=0.05)}

    def attn():
        s = 1.0 / np.sqrt(width)
        return {"query": {"kernel": nrm(width, heads, hd, std=s), "bias": nrm(heads, hd, std=0.05)},
                "key": {"kernel": nrm(width, heads, hd, std=s), "bias": nrm(heads, hd, std=0.05)},
                "value": {"kernel": nrm(width, heads, hd, std=s), "bias": nrm(heads, hd, std=0.05)},
                "out": {"kernel": nrm(heads, hd, width, std=s), "bias": nrm(width, std=0.05)}}

    def mlp():
        return {"Dense_0": {"kernel": nrm(width, mlp_dim, std=1 / np.sqrt(width)), "bias": nrm(mlp_dim, std=0.05)},
                "Dense_1": {"kernel": nrm(mlp_dim, width, std=1 / np.sqrt(mlp_dim)), "bias": nrm(width, std=0.05)}}

    img = {"embedding": {"kernel": nrm(patch, patch, 3, width, std=1 / np.sqrt(patch * patch * 3)),
                         "bias": nrm(width, std=0.05)}}
    if posemb == "learn":
        img["pos_embedding"] = nrm(1, g * g, width, std=1 / np.sqrt(width))
    if pool == "tok":
        img["cls"] = nrm(1, 1, width, std=0.5)
    img["Transformer"] = {f"encoderblock_{i}": {"LayerNorm_0": ln(), "MultiHeadDotProductAttention_0": attn(),
                                                "LayerNorm_1": ln(), "MlpBlock_0": mlp()} for i in range(depth)}
    img["Transformer"]["encoder_norm"] = ln()
    if pool == "map":
        img["MAPHead_0"] = {"probe": nrm(1, 1, width, std=0.5), "MultiHeadDotProductAttention_0": attn(),
                            "LayerNorm_0": ln(), "MlpBlock_0": mlp()}
    if out_dim:
        img["head"] = {"kernel": nrm(width, out_dim, std=1 / np.sqrt(width)), "bias": nrm(out_dim, std=0.05)}
    return {"t": np.array([np.log(10.0)], np.float32), "img": img}


def stack_blocks(params):
    tr = params["img"]["Transformer"]
    blocks = blocks_of(tr)
    flat = [flatten(b) for b in blocks]
    stacked = {k: np.stack([f[k] for f in flat]) for k in flat[0]}
    new_tr = {"encoderblock": unflatten(stacked), "encoder_norm": tr["encoder_norm"]}
    return {"t": params["t"], "img": {**{k: v for k, v in params["img"].items() if k != "Transformer"},
                                      "Transformer": new_tr}}


def to_bf16_bits(a):
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def npy_bytes_bf16(bits, shape):
    """A .npy exactly as numpy writes an ml_dtypes bfloat16 array: descr '<V2'."""
    header = "{'descr': '<V2', 'fortran_order': False, 'shape': %s, }" % (tuple(shape),)
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bits.tobytes()


def save_bf16_npz(path, flat):
    """np.savez's container (ZIP64 forced, stored) with '<V2' members."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for k, v in flat.items():
            with zf.open(k + ".npy", "w", force_zip64=True) as f:
                f.write(npy_bytes_bf16(to_bf16_bits(v), v.shape))


# ---- generation ---------------------------------------------------------------

def gen(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    cases = []

    def case(name, ckpt, params, res, n=5, extra=None):
        images = rng.uniform(-1, 1, (n, 3, res, res)).astype(np.float32)
        z, pre = forward(params, images, res)
        np.save(os.path.join(out, f"{name}.in.npy"), images)
        np.save(os.path.join(out, f"{name}.z.npy"), z)
        np.save(os.path.join(out, f"{name}.pre.npy"), pre)
        cases.append({"name": name, "ckpt": ckpt, "res": res, **(extra or {})})

    def savez(name, params, compressed=False, extra_arrays=None):
        flat = {"params/" + k: v for k, v in flatten(params).items()}
        flat.update(extra_arrays or {})
        (np.savez_compressed if compressed else np.savez)(os.path.join(out, name), **flat)
        return name

    # mu/16 at 32 px, MAP head, learned posemb, plus optimizer state to skip.
    p = random_params(rng, 32, 1, 128, 2, 16, 32, 24)
    opt = {"opt/1/0/mu/img/embedding/kernel": np.zeros((16, 16, 3, 32), np.float32), "opt/step": np.array(7, np.int64)}
    savez("mu16_32.npz", p, extra_arrays=opt)
    case("mu16_32", "mu16_32.npz", p, 32)
    # The same checkpoint at 64 px: the position embedding is resampled.
    case("mu16_32_at64", "mu16_32.npz", p, 64, n=3)
    # Ti/16 at 48 px, out_dim 64.
    w, d, m, h = VARIANTS["Ti"]
    p = random_params(rng, w, d, m, h, 16, 48, 64)
    savez("ti16_48.npz", p)
    case("ti16_48", "ti16_48.npz", p, 48)
    # A custom depth-3 model saved with stacked blocks (nn.scan layout).
    p = random_params(rng, 32, 3, 128, 2, 16, 64, 48)
    savez("stacked_d3_64.npz", stack_blocks(p))
    case("stacked_d3_64", "stacked_d3_64.npz", p, 64, n=3)
    # mu/8, GAP pool, sincos2d posemb, deflated members (np.savez_compressed).
    p = random_params(rng, 32, 1, 128, 2, 8, 32, 16, pool="gap", posemb="sincos2d")
    savez("mu8_gap_sincos.npz", p, compressed=True)
    case("mu8_gap_sincos", "mu8_gap_sincos.npz", p, 32)
    # Class-token pool and no head (out_dim 0: z is the normalised pool).
    p = random_params(rng, 32, 1, 128, 2, 16, 48, 0, pool="tok")
    savez("mu16_tok_nohead.npz", p)
    case("mu16_tok_nohead", "mu16_tok_nohead.npz", p, 48, n=4)
    # bfloat16 members ('<V2'); the reference uses the rounded values.
    p = random_params(rng, 32, 1, 128, 2, 16, 32, 32)
    flat = {"params/" + k: v for k, v in flatten(p).items()}
    save_bf16_npz(os.path.join(out, "mu16_bf16.npz"), flat)
    p_rounded = unflatten({k[len("params/"):]: bf16_bits_to_f32(to_bf16_bits(v)).reshape(v.shape) for k, v in flat.items()})
    case("mu16_bf16", "mu16_bf16.npz", p_rounded, 32)

    gen_bad(out, rng)
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


def gen_bad(out, rng):
    """Malformed checkpoints, each with the words its error must contain."""
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    p = random_params(rng, 32, 1, 128, 2, 16, 32, 8)
    flat = {"params/" + k: v for k, v in flatten(p).items()}
    expect = {}

    def write(name, arrays, why, compressed=False):
        (np.savez_compressed if compressed else np.savez)(os.path.join(bad, name), **arrays)
        expect[name] = why

    with open(os.path.join(bad, "not_a_zip.npz"), "w") as f:
        f.write("this is not a checkpoint\n")
    expect["not_a_zip.npz"] = ["not_a_zip.npz", "not a .npz"]
    np.savez(os.path.join(bad, "full.npz"), **flat)
    data = open(os.path.join(bad, "full.npz"), "rb").read()
    with open(os.path.join(bad, "truncated.npz"), "wb") as f:
        f.write(data[: len(data) // 2])
    expect["truncated.npz"] = ["truncated.npz", "not a .npz"]
    os.remove(os.path.join(bad, "full.npz"))
    k = "params/img/Transformer/encoderblock_0/MlpBlock_0/Dense_1/kernel"
    write("missing.npz", {a: v for a, v in flat.items() if a != k}, ["missing.npz", k, "missing"])
    write("no_stem.npz", {a: v for a, v in flat.items() if "embedding/kernel" not in a},
          ["no_stem.npz", "params/img/embedding/kernel"])
    shaped = dict(flat)
    k2 = "params/img/MAPHead_0/MlpBlock_0/Dense_0/kernel"
    shaped[k2] = np.zeros((32, 100), np.float32)
    write("wrong_shape.npz", shaped, ["wrong_shape.npz", k2, "(32, 100)", "(32, 128)"])
    shaped = dict(flat)
    shaped["params/img/pos_embedding"] = np.zeros((1, 5, 32), np.float32)
    write("posemb_not_square.npz", shaped, ["posemb_not_square.npz", "params/img/pos_embedding", "(1, 5, 32)"])
    typed = dict(flat)
    k3 = "params/img/head/bias"
    typed[k3] = np.zeros(8, np.complex64)
    write("bad_dtype.npz", typed, ["bad_dtype.npz", k3, "<c8"])
    typed = dict(flat)
    typed[k3] = np.zeros(8, np.int32)
    write("int_param.npz", typed, ["int_param.npz", k3, "<i4"])
    # A member whose .npy holds fewer bytes than its shape needs.
    with zipfile.ZipFile(os.path.join(bad, "short_member.npz"), "w") as zf:
        for a, v in flat.items():
            buf = io.BytesIO()
            np.save(buf, v)
            b = buf.getvalue()
            if a == k3:
                b = b[:-4]
            zf.writestr(a + ".npy", b)
    expect["short_member.npz"] = ["short_member.npz", k3, "truncated"]
    # A deflated member whose compressed bytes are damaged (CRC / inflate error).
    np.savez_compressed(os.path.join(bad, "corrupt.npz"), **flat)
    raw = bytearray(open(os.path.join(bad, "corrupt.npz"), "rb").read())
    with zipfile.ZipFile(os.path.join(bad, "corrupt.npz")) as zf:
        info = zf.getinfo("params/img/embedding/kernel.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    for i in range(start, start + 64):
        raw[i] ^= 0x5A
    with open(os.path.join(bad, "corrupt.npz"), "wb") as f:
        f.write(raw)
    expect["corrupt.npz"] = ["corrupt.npz", "params/img/embedding/kernel"]
    fort = dict(flat)
    fort["params/img/head/kernel"] = np.asfortranarray(flat["params/img/head/kernel"])
    write("fortran.npz", fort, ["fortran.npz", "params/img/head/kernel", "Fortran"])
    with open(os.path.join(bad, "expect.json"), "w") as f:
        json.dump(expect, f, indent=1)


# ---- other commands -------------------------------------------------------------

def written_values():
    """What tests/unit/torch/test_model_npz.cpp writes (keep in sync)."""
    a = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5 - 3)
    return {"a": (a, "<f4"), "params/img/b": (np.linspace(-2, 2, 7, dtype=np.float32), "<f2"),
            "opt/c": (np.array([[1.5, -0.25], [3.0, 1e-3]], np.float32), "bf16"),
            "scalar1": (np.array([42.0], np.float32), "<f4")}


def check_written(path):
    z = np.load(path)
    want = written_values()
    if sorted(z.files) != sorted(want):
        sys.exit(f"names differ: {sorted(z.files)} != {sorted(want)}")
    for k, (v, t) in want.items():
        got = z[k]
        if got.shape != v.shape:
            sys.exit(f"{k}: shape {got.shape} != {v.shape}")
        if t == "bf16":
            if got.dtype.str not in ("<V2", "|V2"):
                sys.exit(f"{k}: dtype {got.dtype.str}, want a 2-byte void (bfloat16)")
            vals = bf16_bits_to_f32(got.view(np.uint16))
            if not np.array_equal(vals, bf16_bits_to_f32(to_bf16_bits(v)).reshape(v.shape)):
                sys.exit(f"{k}: bf16 values differ")
        else:
            if got.dtype.str != t:
                sys.exit(f"{k}: dtype {got.dtype.str} != {t}")
            if not np.array_equal(got, v.astype(t)):
                sys.exit(f"{k}: values differ")
    print("ok")


def resave(src, dst, how="compressed"):
    z = np.load(src)
    (np.savez_compressed if how == "compressed" else np.savez)(dst, **{k: z[k] for k in z.files})


def embed(ckpt, res, src, dst, pre=False):
    z = np.load(ckpt)
    flat = {}
    for k in z.files:
        if not k.startswith("params/"):
            continue
        v = z[k]
        if v.dtype.kind == "V":
            v = bf16_bits_to_f32(v.view(np.uint16)).reshape(v.shape)
        flat[k[len("params/"):]] = v.astype(np.float64)
    zz, pl = forward(unflatten(flat), np.load(src), int(res))
    np.save(dst, pl if pre else zz)


def read_ppm(path):
    data = open(path, "rb").read()
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6" and parts[3] == b"255", path
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(parts[4][: w * h * 3], np.uint8).reshape(h, w, 3)


def write_ppm(path, w, h, seed):
    img = np.random.default_rng(int(seed)).integers(0, 256, (int(h), int(w), 3), dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (int(w), int(h)) + img.tobytes())


def resize_bilinear(img, res):
    """tf.image.resize(bilinear, half_pixel_centers=True, antialias=False)."""
    def axis(n_in):
        src = (np.arange(res) + 0.5) * (n_in / res) - 0.5
        src = np.clip(src, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo
    img = img.astype(np.float64)
    ylo, yhi, fy = axis(img.shape[0])
    xlo, xhi, fx = axis(img.shape[1])
    rows = img[ylo] * (1 - fy)[:, None, None] + img[yhi] * fy[:, None, None]
    return rows[:, xlo] * (1 - fx)[None, :, None] + rows[:, xhi] * fx[None, :, None]


def load_params(ckpt):
    z = np.load(ckpt)
    flat = {}
    for k in z.files:
        if k.startswith("params/"):
            v = z[k]
            if v.dtype.kind == "V":
                v = bf16_bits_to_f32(v.view(np.uint16)).reshape(v.shape)
            flat[k[len("params/"):]] = v.astype(np.float64)
    params = unflatten(flat)
    g = int(round(np.sqrt(params["img"]["pos_embedding"].shape[1])))
    return params, g * params["img"]["embedding"]["kernel"].shape[0]


def embed_files(ckpt, dst, files):
    params, res = load_params(ckpt)
    x = np.stack([resize_bilinear(read_ppm(f), res) / 255.0 * 2 - 1 for f in files]).transpose(0, 3, 1, 2)
    np.save(dst, forward(params, x, res)[0])


def embed_text(ckpt, dst, lines):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import render_ref
    params, res = load_params(ckpt)
    table = render_ref.load_font([render_ref.DEFAULT_FONT])
    imgs = [render_ref.render(l.encode(), table, size=res).astype(np.float64) / 255.0 * 2 - 1 for l in lines]
    x = np.stack([np.stack([i, i, i]) for i in imgs])
    np.save(dst, forward(params, x, res)[0])


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2])
    elif cmd == "check-written":
        check_written(sys.argv[2])
    elif cmd == "resave":
        resave(sys.argv[2], sys.argv[3], *sys.argv[4:5])
    elif cmd == "make-ckpt":
        name, patch = sys.argv[2].split("/")
        w, d, m, h = VARIANTS[name]
        p = random_params(np.random.default_rng(0), w, d, m, h, int(patch), int(sys.argv[3]), int(sys.argv[4]))
        np.savez(sys.argv[5], **{"params/" + k: v for k, v in flatten(p).items()})
    elif cmd == "write-ppm":
        write_ppm(*sys.argv[2:6])
    elif cmd == "embed-files":
        embed_files(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "embed-text":
        embed_text(sys.argv[2], sys.argv[3], sys.stdin.read().split("\n")[:-1])
    elif cmd == "embed":
        embed(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], len(sys.argv) > 6)
    else:
        sys.exit(__doc__)
