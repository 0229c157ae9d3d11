"""Headline rows (Genie-D data + Genie-M, cpu preset) at reduced precision, one `genie-nb quantize` per row.

    nice python bench/precision_rows.py                      # every row of ROWS not yet in the CSV
    nice python bench/precision_rows.py --rows default:2:4:0:auto,mbv2:2:4:0:auto:400

Each (model, seed, precision) is synthesized once with `genie-nb synth --preset cpu --precision P`
(as the grid shares one calibration set between the bit-widths of a seed); each row then runs
`genie-nb quantize --data <that file> --precision P --json` and appends one line to
bench/precision_rows.csv (resumable: finished rows and finished syntheses are skipped).
A row spec may end in `:iters` (reconstruction steps per unit; default: the preset's).
The fp32 rows to compare with are bench/results.csv's (the fp32 path is bit-identical to the one that
produced them)."""

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
    'iters', 'iters_asked', 'synth_seconds', 'quant_seconds', 'bn_loss_first', 'bn_loss_last', 'device',
    'torch', 'threads', 'command',
)
ROWS = [  # model, w_bits, a_bits, seed, precision, iters (None: the preset's)
    ('default', 2, 4, 0, 'auto', None),
    ('mbv2', 2, 4, 0, 'auto', None),
    ('default', 4, 4, 0, 'auto', None),
    ('mbv2', 4, 4, 0, 'auto', None),
    ('default', 3, 3, 0, 'auto', None),
    ('mbv2', 3, 3, 0, 'auto', None),
    ('default', 2, 4, 1, 'auto', None),
    ('mbv2', 2, 4, 1, 'auto', None),
    ('default', 2, 4, 2, 'auto', None),
    ('mbv2', 2, 4, 2, 'auto', None),
    ('mbv2', 2, 4, 0, 'auto', 400),
    ('mbv2', 2, 4, 1, 'auto', 400),
    ('mbv2', 2, 4, 2, 'auto', 400),
]


def row_key(model, bits, seed, precision, iters) -> tuple:
    "What identifies a row: iters is '' for the preset's budget."
    return (model, bits, str(seed), precision, '' if iters is None else str(iters))


def done_keys() -> set:
    "Keys of the rows already in the CSV (rows written before the iters column count as the preset's)."
    if not CSV.exists():
        return set()
    with CSV.open() as f:
        rows = list(csv.DictReader(f))
    keys = [(r['model'], r['bits'], r['seed'], r['precision'], r.get('iters_asked') or None) for r in rows]
    return {row_key(*k) for k in keys}


def run_json(cmd: list) -> dict:
    "Run one CLI command and return its last stdout line as JSON (SystemExit naming the command on failure)."
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def synth_file(model, seed, precision, threads, outdir: Path) -> Path:
    "The cpu-preset Genie-D images of (model, seed, precision), synthesized once."
    out = outdir / f'{model}_s{seed}_{precision}_synth.pt'
    if out.exists():
        return out
    cmd = [
        'genie-nb', 'synth', '--model', model, '--method', 'genie', '--preset', 'cpu', '--seed', str(seed),
        '--threads', str(threads), '--precision', precision, '--out', str(out), '--json',
    ]
    run_json(cmd)
    return out


def run_row(model, w, a, seed, precision, iters, threads, outdir: Path) -> dict:
    "Run one row through the CLI (synthesis shared per seed) and return its CSV line."
    data = synth_file(model, seed, precision, threads, outdir)
    tag = '' if iters is None else f'_i{iters}'
    out = outdir / f'{model}_W{w}A{a}_s{seed}_{precision}{tag}.qpt'
    cmd = [
        'genie-nb', 'quantize', '--model', model, '--data', str(data), '--method', 'genie',
        '--w-bits', str(w), '--a-bits', str(a), '--seed', str(seed), '--preset', 'cpu',
        '--threads', str(threads), '--precision', precision, '--out', str(out), '--json',
    ]
    if iters is not None:
        cmd += ['--iters', str(iters)]
    r = run_json(cmd)
    meta = torch.load(str(data), map_location='cpu', weights_only=False)['meta']
    return dict(
        model=model, source='genie', method='genie', bits=f'W{w}A{a}', seed=seed, precision=precision,
        top1=r['top1'], fp_top1=r['fp_top1'], delta=round(r['top1'] - r['fp_top1'], 2), n=r['n'],
        synth_steps=meta['steps'], iters=r['iters'], iters_asked='' if iters is None else iters,
        synth_seconds=round(meta['seconds'], 1), quant_seconds=r['seconds'],
        bn_loss_first=meta['bn_loss_first'], bn_loss_last=meta['bn_loss_last'], device=r['device'],
        torch=str(torch.__version__), threads=threads, command=' '.join(cmd),
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
        specs = [r.split(':') for r in a.rows.split(',')]
        rows = [(m, int(w), int(b), int(s), p, int(i[0]) if i else None) for m, w, b, s, p, *i in specs]
    outdir = Path(a.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('GENIE_NB_THREADS', str(a.threads))
    for model, w, b, seed, prec, iters in rows:
        if row_key(model, f'W{w}A{b}', seed, prec, iters) in done_keys():
            continue
        row = run_row(model, w, b, seed, prec, iters, a.threads, outdir)
        append(row)
        print(json.dumps(row), flush=True)
    sys.exit(0)
