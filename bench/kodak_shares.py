"""The coefficient search's share on Kodak, and the plain viewer's check (issue 7), from
bench/results/kodak/results.csv after bench/run_kodak.sh: each searched pipeline's BD-rate
against plain JPEG and against its `-e0` twin (--effort 0), mean encode seconds, and the plain
decode's BD-PSNR against a standard-table JPEG at equal bytes (searched and not).

    .venv/bin/python -m bench.kodak_shares
"""
import csv
import json
from pathlib import Path

import bjontegaard as bd
import numpy as np

from codec.bench.report import bd_rate, curve

rows = list(csv.DictReader(open(Path(__file__).resolve().parent / 'results/kodak/results.csv')))
for r in rows:
    for k in ('bpp', 'psnr', 'msssim', 'msssim_db', 'ssim', 'encode_s', 'decode_s', 'plain_psnr', 'plain_msssim', 'plain_msssim_db'):
        r[k] = float(r[k]) if r.get(k) not in (None, '') else None
    r['quality'] = int(r['quality'])
Q = list(range(5, 100, 5))
C = {m: curve(rows, m, Q) for m in sorted({r['method'] for r in rows})}
J = C['jpeg']
out = {}
for m in ('regen-coarse4@regen-v1', 'regen-coarse4@regen-v1+jxl', 'auto', 'auto+jxl'):
    e0 = m.replace('+jxl', '+jxl-e0') if '+jxl' in m else m + '-e0'
    if m not in C or e0 not in C:
        continue
    d = {k: {'vs_jpeg': bd_rate(J, C[m], k), 'e0_vs_jpeg': bd_rate(J, C[e0], k), 'vs_e0': bd_rate(C[e0], C[m], k)}
         for k in ('ms-ssim-db', 'psnr-rgb')}
    enc = lambda n: sum(r['encode_s'] for r in rows if r['method'] == n) / max(1, sum(1 for r in rows if r['method'] == n))
    d['mean_encode_s'] = {m: enc(m), e0: enc(e0)}
    out[m] = d
# plain decode of the searched files against a standard-table JPEG at equal bytes (issue 7: within 1 dB)
for m in ('regen-coarse4@regen-v1', 'regen-coarse4@regen-v1-e0'):
    rs = [r for r in rows if r['method'] == m]
    bpp = [float(np.mean([r['bpp'] for r in rs if r['quality'] == q])) for q in Q]
    pp = [float(np.mean([r['plain_psnr'] for r in rs if r['quality'] == q])) for q in Q]
    out[f'{m} plain decode BD-PSNR vs jpeg (dB)'] = float(bd.bd_psnr(J['bpp'], J['psnr-rgb'], bpp, pp, method='pchip', require_matching_points=False))
print(json.dumps(out, indent=1))
