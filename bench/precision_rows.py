"""Headline rows (Genie-D data + Genie-M, cpu preset) at reduced precision, one `genie-nb quantize` per row.

    nice python bench/precision_rows.py                      # every row of ROWS not yet in the CSV
    nice python bench/precision_rows.py --rows default:2:4:0:auto

Each row runs `genie-nb quantize --data genie ... --precision P --json` (synthesis and reconstruction both at
P) and appends one line to bench/precision_rows.csv (resumable: finished rows are skipped). The fp32 rows to
compare with are bench/results.csv's (the fp32 path is bit-identical to the one that produced them)."""

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

CSV = Path(__file__).with_name('precision_rows.csv')
FIELDS = (
    'model', 'source', 'method', 'bits', 'seed', 'precision', 'top1', 'fp_top1', 'delta', 'n', 'synth_steps',
    'iters', 'synth_seconds', 'quant_seconds', 'bn_loss_first', 'bn_loss_last', 'device', 'torch', 'threads',
    'command',
)
ROWS = [  # model, w_bits, a_bits, seed, precision
    ('default', 2, 4, 0, 'auto'),
    ('mbv2', 2, 4, 0, 'auto'),
    ('default', 2, 4, 1, 'auto'),
    ('mbv2', 2, 4, 1, 'auto'),
    ('mbv2', 2, 4, 0, 'bf16'),
    ('default', 2, 4, 2, 'auto'),
    ('mbv2', 2, 4, 2, 'auto'),
]


def done_keys() -> set:
    "(model, bits, seed, precision) of the rows already in the CSV."
    if not CSV.exists():
        return set()
    with CSV.open() as f:
        return {(r['model'], r['bits'], r['seed'], r['precision']) for r in csv.DictReader(f)}


def run_row(model, w, a, seed, precision, threads, outdir: Path) -> dict:
    "Run one row through the CLI and return its CSV line."
    out = outdir / f'{model}_W{w}A{a}_s{seed}_{precision}.qpt'
    cmd = [
        'genie-nb', 'quantize', '--model', model, '--data', 'genie', '--method', 'genie', '--w-bits', str(w),
        '--a-bits', str(a), '--seed', str(seed), '--preset', 'cpu', '--threads', str(threads),
        '--precision', precision, '--out', str(out), '--json',
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    meta = torch.load(str(out) + '.genie.pt', map_location='cpu', weights_only=True)['meta']
    return dict(
        model=model, source='genie', method='genie', bits=f'W{w}A{a}', seed=seed, precision=precision,
        top1=r['top1'], fp_top1=r['fp_top1'], delta=round(r['top1'] - r['fp_top1'], 2), n=r['n'],
        synth_steps=meta['steps'], iters=r['iters'], synth_seconds=round(meta['seconds'], 1),
        quant_seconds=r['seconds'], bn_loss_first=meta['bn_loss_first'], bn_loss_last=meta['bn_loss_last'],
        device=r['device'], torch=str(torch.__version__), threads=threads,
        command=' '.join(cmd),
    )


def append(row: dict):
    "Append one row (header first when the file is new)."
    new = not CSV.exists()
    with CSV.open('a', newline='') as f:
        w = csv.DictWriter(f, FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--rows', default=None, help='model:w:a:seed:precision,... (default: ROWS)')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--outdir', default='runs/precision')
    a = ap.parse_args()
    rows = ROWS
    if a.rows:
        rows = [(m, int(w), int(b), int(s), p) for m, w, b, s, p in (r.split(':') for r in a.rows.split(','))]
    outdir = Path(a.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('GENIE_NB_THREADS', str(a.threads))
    for model, w, b, seed, prec in rows:
        if (model, f'W{w}A{b}', str(seed), prec) in done_keys():
            continue
        row = run_row(model, w, b, seed, prec, a.threads, outdir)
        append(row)
        print(json.dumps(row), flush=True)
    sys.exit(0)
