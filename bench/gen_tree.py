#!/usr/bin/env python3
"""Generates a benchmark tree of about MB megabytes: file sizes log-uniform from 64 B to 4 MiB
(most files small, most bytes in large ones), contents cut in sequence from the machine's own /usr
files (real binaries, libraries and text: realistic compressibility, no two files alike), 12 files
per directory. Deterministic for a given machine.
    gen_tree.py DIR MB
"""
import math, os, random, sys
out, budget = sys.argv[1], int(sys.argv[2]) << 20
rng = random.Random(1)
def pool():
    for root, dirs, files in os.walk('/usr'):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            try:
                with open(p, 'rb') as fh:
                    yield fh.read()
            except OSError:
                pass
src, buf, n, total = pool(), b'', 0, 0
while total < budget:
    size = int(math.exp(rng.uniform(math.log(64), math.log(4 << 20))))
    while len(buf) < size:
        buf += next(src)
    d = os.path.join(out, 'd%03d' % (n // 144), 's%02d' % (n // 12 % 12))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'f%06d' % n), 'wb') as fh:
        fh.write(buf[:size])
    buf, n, total = buf[size:], n + 1, total + size
