# clippo-pack throughput against the machine's plain copy and zstd speed on
# the same bytes, in one run:
#  (a) re-sharding a tar of JPEGs, original bytes kept, to a zstd shard
#      (target: >= 50% of `zstd -3` speed on the same tar);
#  (b) decoding + resizing the JPEGs (--resize 128), against `cat`.
. "$CLIPPO_SOURCE/tests/bench/lib.sh"
N=${PACK_BENCH_IMAGES:-2000}
machine
# Photo-like JPEGs: smooth random fields with fine noise, 480x360, about 40 kB each.
$PY - "$N" <<'PYEOF'
import os, struct, sys, zlib
import numpy as np
n = int(sys.argv[1]); os.makedirs('img', exist_ok=True)
rng = np.random.default_rng(0)
def png(path, img):
    h, w, _ = img.shape
    raw = b''.join(b'\x00' + img[y].tobytes() for y in range(h))
    c = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + c(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + c(b'IDAT', zlib.compress(raw, 1)) + c(b'IEND', b''))
with open('captions.tsv', 'w') as f:
    for i in range(n):
        small = rng.uniform(0, 255, (10, 13, 3))
        img = np.kron(small, np.ones((36, 37, 1)))[:360, :480]
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        png(f'img/{i:05d}.png', img)
        f.write(f'{i:05d}.png\ta photo number {i}\n')
PYEOF
clippo-pack -q --images img --captions captions.tsv --resize 360 --jpeg-quality 90 --compression none -o src.tar
bytes=$(stat -c %s src.tar)
echo "input: $N JPEG records, $(echo "scale=1; $bytes / 1000000" | bc) MB plain tar"
cat src.tar > /dev/null  # warm the page cache

t_cat=$(best_of 3 cat src.tar)
t_zstd=$(best_of 3 zstd -3 -T1 -c src.tar)
t_reshard1=$(best_of 3 clippo-pack -q src.tar --threads 1 -o out1.shard)
t_reshard=$(best_of 3 clippo-pack -q src.tar -o out.shard)
t_resize=$(best_of 1 clippo-pack -q src.tar --resize 128 -o small.shard)
mbs() { echo "scale=1; $bytes / $1 / 1000000" | bc -l; }
printf '%-36s %8s s %8s MB/s\n' "cat" "$t_cat" "$(mbs "$t_cat")"
printf '%-36s %8s s %8s MB/s\n' "zstd -3 (1 thread)" "$t_zstd" "$(mbs "$t_zstd")"
printf '%-36s %8s s %8s MB/s %8s rec/s\n' "clippo-pack re-shard, 1 job" "$t_reshard1" "$(mbs "$t_reshard1")" "$(rate "$N" "$t_reshard1")"
printf '%-36s %8s s %8s MB/s %8s rec/s\n' "clippo-pack re-shard, $(nproc) threads" "$t_reshard" "$(mbs "$t_reshard")" "$(rate "$N" "$t_reshard")"
printf '%-36s %8s s %8s MB/s %8s rec/s\n' "clippo-pack --resize 128, $(nproc) threads" "$t_resize" "$(mbs "$t_resize")" "$(rate "$N" "$t_resize")"
r=$(ratio "$t_zstd" "$t_reshard1")
echo "re-shard speed / zstd -3 speed (1 thread each): $r (target >= 0.5)"
echo "resize speed / cat speed: $(ratio "$t_cat" "$t_resize")"
(( $(echo "$r >= 0.5" | bc -l) )) || { echo "below target"; exit 1; }
