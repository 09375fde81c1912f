"""Reads and writes webdataset tars with Python's tarfile, independently of
clippo's C++ reader: the reference the end-to-end tests compare against.

  shards.py dump SHARD...            one JSON line per record: key, fields (text or size+sha1)
  shards.py write OUT.tar SPEC.json  writes records [{key, fields: {name: text}}] (plain tar)
"""
import gzip, hashlib, io, json, subprocess, sys, tarfile


def open_bytes(path):
    data = open(path, 'rb').read()
    if data[:4] == b'\x28\xb5\x2f\xfd':  # zstd frame magic
        data = subprocess.run(['zstd', '-dc'], input=data, capture_output=True, check=True).stdout
    elif data[:2] == b'\x1f\x8b':
        data = gzip.decompress(data)
    return data


def records(path):
    tar = tarfile.open(fileobj=io.BytesIO(open_bytes(path)), mode='r:')
    cur = None
    for m in tar:
        if not m.isfile():
            continue
        slash = m.name.rfind('/') + 1
        dot = m.name.find('.', slash)
        key, field = m.name[:dot], m.name[dot + 1:]
        body = tar.extractfile(m).read()
        if cur is None or cur['key'] != key:
            if cur is not None:
                yield cur
            cur = {'key': key, 'fields': {}}
        cur['fields'][field] = body
    if cur is not None:
        yield cur


def describe(body):
    try:
        text = body.decode('utf-8')
        if len(text) < 200 and '\x00' not in text:
            return text
    except UnicodeDecodeError:
        pass
    return {'size': len(body), 'sha1': hashlib.sha1(body).hexdigest()}


if __name__ == '__main__':
    if sys.argv[1] == 'dump':
        for path in sys.argv[2:]:
            for r in records(path):
                print(json.dumps({'key': r['key'], 'fields': {k: describe(v) for k, v in r['fields'].items()}},
                                 ensure_ascii=False, sort_keys=True))
    elif sys.argv[1] == 'write':
        spec = json.load(open(sys.argv[3]))
        with tarfile.open(sys.argv[2], 'w', format=tarfile.GNU_FORMAT) as tar:
            for r in spec:
                for name, text in r['fields'].items():
                    body = text.encode('utf-8') if isinstance(text, str) else bytes(text)
                    info = tarfile.TarInfo(r['key'] + '.' + name)
                    info.size = len(body)
                    tar.addfile(info, io.BytesIO(body))
