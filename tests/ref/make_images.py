"""Writes small random RGB PNG files (stdlib zlib, no imaging library):
make_images.py DIR NAME:WxH[:SEED] ..."""
import os, struct, sys, zlib
import numpy as np


def write_png(path, img):
    h, w, _ = img.shape
    raw = b''.join(b'\x00' + img[y].tobytes() for y in range(h))
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


if __name__ == '__main__':
    out = sys.argv[1]
    for spec in sys.argv[2:]:
        name, size, *seed = spec.split(':')
        w, h = map(int, size.split('x'))
        rng = np.random.default_rng(int(seed[0]) if seed else 0)
        path = os.path.join(out, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_png(path, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
