#!/usr/bin/python3
"""A numpy restatement of big_vision's `render_unifont` (CLIPPO pp_ops), step
by step as TensorFlow computes it, to derive the expected pixels of the C++
renderer independently. Run with Debian's /usr/bin/python3 (python3-numpy).

  render_ref.py cases OUT.tar               the golden strings as a tar of KEY.txt
  render_ref.py render [OPTIONS] IN.tar OUT.npy
                                            renders each KEY.txt of IN.tar
                                            (uint8 array N x size x size)
  render_ref.py edges [OPTIONS] IN.tar      exactly-at-the-edge breaks per case
  render_ref.py goldens DIR                 tests/data/render: NAME.txt and the
                                            expected NAME-SIZE.pgm

Deliberate deviations from big_vision, also made by clippo: an empty string is
a blank image (TF fails), and when no glyph fits beside the widest one
(size <= max width) each character gets a line of its own.
"""
import argparse
import io
import os
import sys
import tarfile

import numpy as np

DEFAULT_FONT = "/usr/share/unifont/unifont.hex"


def load_font(paths):
    """The bit embedding: 32 bytes per code point, 2 per row (left, right).
    $RENDER_REF_CACHE names a .npy file that keeps it between runs."""
    cache = os.environ.get("RENDER_REF_CACHE")
    if cache and os.path.exists(cache):
        return np.load(cache)
    table = np.zeros((0x110000, 32), dtype=np.uint8)
    # An 8 px wide glyph's bytes go to the even columns (big_vision colpattern).
    cols = {64: list(range(32)), 32: list(range(0, 32, 2))}
    for path in paths:
        with open(path, "r", encoding="ascii") as f:
            for line in f:
                line = line.rstrip("\r\n")
                if not line:
                    continue
                code, hexbits = line.split(":")
                if len(hexbits) not in cols:
                    continue
                table[int(code, 16), cols[len(hexbits)]] = np.frombuffer(bytes.fromhex(hexbits), np.uint8)
    if cache:
        np.save(cache, table)
    return table


def decode(data, lower, max_chars):
    if lower:  # tf.strings.lower: ASCII bytes only
        data = data.translate(bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"))
    # One U+FFFD per maximal invalid subpart, as ICU's converter in TF does.
    ids = [ord(c) for c in data.decode("utf-8", errors="replace")]
    if max_chars:
        ids = ids[:max_chars]
    return ids


def resize_area(cell, n):
    """tf.image.resize(method='area') of a 16x16 0/1 cell: TF's ResizeArea
    kernel (align_corners=False) with its float32 arithmetic."""
    f32 = np.float32
    in_size = 16
    s = f32(in_size) / f32(n)
    scale = f32(1.0 / float(f32(s * s)))
    src = cell.astype(np.float32)

    def bound(v):
        return min(in_size - 1, max(0, v))

    def weight(i, a, b):
        if f32(i) < a:
            return s if f32(i + 1) > b else f32(f32(i + 1) - a)
        return f32(b - f32(i)) if f32(i + 1) > b else f32(1.0)

    out = np.zeros((n, n), np.float32)
    for y in range(n):
        in_y, in_y1 = f32(f32(y) * s), f32(f32(y + 1) * s)
        y0, y1 = int(np.floor(in_y)), int(np.ceil(in_y1))
        for x in range(n):
            in_x, in_x1 = f32(f32(x) * s), f32(f32(x + 1) * s)
            x0, x1 = int(np.floor(in_x)), int(np.ceil(in_x1))
            ws, we = weight(x0, in_x, in_x1), weight(x1 - 1, in_x, in_x1)
            total = f32(0)
            for i in range(y0, y1):
                row = src[bound(i)]
                sy = f32(row[bound(x0)] * ws)
                if x0 + 1 != x1:
                    for xx in range(x0 + 1, x1 - 1):
                        sy = f32(sy + row[bound(xx)])
                    sy = f32(sy + f32(row[bound(x1 - 1)] * we))
                total = f32(total + f32(sy * weight(i, in_y, in_y1)))
            out[y, x] = f32(total * scale)
    return out


def trim_letter(letter, spacing, min_width):
    v = letter.max(axis=0)
    ink = np.nonzero(v)[0]
    first = int(ink[0]) if len(ink) else 0
    last = int(ink[-1]) if len(ink) else 0
    first = max(first - spacing, 0)
    last = max(last + spacing, first + min_width)
    return letter[:, first:last]  # a Python slice clips to the cell


def to_image(letters, size, font_size, dtype):
    widths = np.array([l.shape[1] for l in letters], dtype=np.int64)
    max_w = int(widths.max())
    if max_w == 0:
        return np.zeros((size, size), dtype)
    cums = np.cumsum(widths).astype(np.float32)
    div = np.float32(size - max_w)
    if div > 0:
        row_idx = np.floor(cums / div).astype(np.int64)
    else:
        row_idx = np.arange(len(letters), dtype=np.int64)
    nrows = int(row_idx.max()) + 1
    lines = []
    for k in range(nrows):
        parts = [letters[i] for i in np.nonzero(row_idx == k)[0]]
        lines.append(np.concatenate(parts, axis=1) if parts else np.zeros((font_size, 0), dtype))
    width = max(l.shape[1] for l in lines)
    lines = [np.pad(l, ((0, 0), (0, width - l.shape[1]))) for l in lines]
    img = np.concatenate(lines, axis=0)[:size]
    if width > size:  # tf.pad with a negative amount fails
        raise ValueError("a line is wider than the image")
    return np.pad(img, ((0, size - img.shape[0]), (0, size - img.shape[1])))


def render(data, table, size=224, font_size=16, max_chars=768, lower=True, text_brightness=0,
           background_brightness=127, monospace=False, spacing=1, min_width=4):
    ids = decode(data, lower, max_chars)
    if not ids:
        return np.full((size, size), background_brightness, np.uint8)
    embed = table[np.array(ids, dtype=np.int64)]
    letters = np.unpackbits(embed, axis=1).reshape(len(ids), 16, 16)  # MSB first
    dtype = np.uint8
    if font_size != 16:
        cells = {}  # resizing is slow in Python: once per distinct code point
        for cp, l in zip(ids, letters):
            if cp not in cells:
                cells[cp] = resize_area(l, font_size)
        letters = np.stack([cells[cp] for cp in ids])
        dtype = np.float32
    if monospace:
        trimmed = list(letters)
    else:
        trimmed = [trim_letter(l, spacing, min_width) for l in letters]
    img = to_image(trimmed, size, font_size, dtype)
    if dtype == np.uint8:
        # TF multiplies uint8 tensors: modulo 256, exact for 0/1 pixels.
        span = np.uint8((text_brightness - background_brightness) % 256)
        return (img * span + np.uint8(background_brightness)).astype(np.uint8)
    img = img * np.float32(text_brightness - background_brightness) + np.float32(background_brightness)
    return img.astype(np.uint8)  # truncation, as tf.cast


def exact_breaks(data, table, size=224, max_chars=768, lower=True, spacing=1, min_width=4, **_):
    """How many characters start a new line exactly at the edge: their
    cumulative width is a whole multiple of (size - max width)."""
    ids = decode(data, lower, max_chars)
    if not ids:
        return 0
    letters = np.unpackbits(table[np.array(ids)], axis=1).reshape(len(ids), 16, 16)
    widths = np.array([trim_letter(l, spacing, min_width).shape[1] for l in letters])
    div = size - int(widths.max())
    cums = np.cumsum(widths)
    return int(np.sum((cums % div == 0) & (cums > 0))) if div > 0 else 0


def golden_cases():
    """(key, bytes): the strings the golden tests render."""
    cases = [
        ("ascii", b"The Quick Brown Fox Jumps Over The Lazy Dog"),
        ("punct", b"Hello, world! (a) [b] {c} <d> 'e' \"f\" ?;:-_=+*&^%$#@~`|\\/."),
        ("spaces", b"   a  b   c    d   "),
        ("digits", b"0123456789 3.14159 1,000,000 -42"),
        ("latin", "Zürich ZÜRICH Ærøskøbing Ça va? naïve café Œuvre".encode()),
        ("greek", "Ελληνικά: αβγδε ΑΒΓΔΕ".encode()),
        ("cyrillic", "Привет, мир! ПРИВЕТ ёЁ".encode()),
        ("cjk", "中文字符 日本語のテキスト 한국어".encode()),
        ("combining", "e\u0301 a\u0308 n\u0303 o\u0336 \u0915\u093f \u05e9\u05c1".encode()),
        ("emoji", "emoji 😀🐶 and 𝐀 math \U0010FFFD".encode()),
        ("control", b"tab\there\tand\nnewline \x01\x1b\x7f"),
        ("invalid", b"bad \xff\xfe \xc3( \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\x80 \xf8\x88\x80\x80\x80 end\xe2\x82"),
        ("nul", b"nul\x00byte\x00"),
        ("crlike", b"carriage\rreturn"),
        ("empty", b""),
        ("space1", b" "),
        ("long", (b"A long caption that goes on and on, wrapping onto many lines and past the last one; " * 14)),
        ("unassigned", "\u0378\u0379 \uffff \ue000".encode()),
        ("fullwidth", "ＡＢＣ　ｄｅｆ！".encode()),
    ]
    # Exactly-at-the-edge breaks: runs of one glyph whose cumulative width
    # hits a multiple of (size - width) exactly, for the sizes tested.
    for ch in ["m", "i", "W", "中", ".", "-"]:
        cases.append(("edge_" + "%04x" % ord(ch), (ch * 120).encode()))
    cases.append(("edge_mixed", ("mi" * 40 + "中" + "m" * 60).encode()))
    return cases


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cases")
    c.add_argument("out")
    r = sub.add_parser("render")
    r.add_argument("input")
    r.add_argument("out")
    e = sub.add_parser("edges", help="print KEY and the number of exactly-at-the-edge breaks per case")
    e.add_argument("input")
    for q in (r, e):
        q.add_argument("--font", action="append")
        q.add_argument("--size", type=int, default=224)
        q.add_argument("--font-size", type=int, default=16)
        q.add_argument("--max-chars", type=int, default=768)
        q.add_argument("--no-lower", action="store_true")
        q.add_argument("--text-brightness", type=int, default=0)
        q.add_argument("--background-brightness", type=int, default=127)
        q.add_argument("--monospace", action="store_true")
        q.add_argument("--spacing", type=int, default=1)
        q.add_argument("--min-width", type=int, default=4)
    g = sub.add_parser("goldens")
    g.add_argument("dir")
    a = p.parse_args()
    if a.cmd == "goldens":
        table = load_font([DEFAULT_FONT])
        for key, data in golden_cases():
            if key.startswith("edge_") or key == "long":
                continue
            with open(os.path.join(a.dir, key + ".txt"), "wb") as f:
                f.write(data)
            for size in (64,):
                img = render(data, table, size)
                with open(os.path.join(a.dir, "%s-%d.pgm" % (key, size)), "wb") as f:
                    f.write(b"P5\n%d %d\n255\n" % (size, size) + img.tobytes())
        return
    if a.cmd == "cases":
        with tarfile.open(a.out, "w", format=tarfile.USTAR_FORMAT) as tar:
            for key, data in golden_cases():
                info = tarfile.TarInfo(key + ".txt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return
    table = load_font(a.font or [DEFAULT_FONT])
    images = []
    with tarfile.open(a.input, "r") as tar:
        for m in tar.getmembers():
            if not m.name.endswith(".txt"):
                continue
            data = tar.extractfile(m).read()
            if a.cmd == "edges":
                print(m.name[:-4], exact_breaks(data, table, a.size, a.max_chars, not a.no_lower, a.spacing,
                                                a.min_width))
                continue
            images.append(render(data, table, a.size, a.font_size, a.max_chars, not a.no_lower, a.text_brightness,
                                 a.background_brightness, a.monospace, a.spacing, a.min_width))
    if a.cmd == "render":
        np.save(a.out, np.stack(images) if images else np.zeros((0, a.size, a.size), np.uint8))


if __name__ == "__main__":
    sys.exit(main())
