"""genie_nb's PTQ methods on Sony MCT's synthetic images (files from bench/peers/mct_data.py), one CSV row
each.

    PYTHONPATH=$PWD python bench/peers/mct_rows.py --rows default:genie:W2A4:0,default:rtn:W2A4:0

Each row runs `genie-nb quantize --model M --data bench/peers/data/mct_M_seedK.pt --method X --w-bits W
--a-bits A --seed K --threads 1 --json` (cpu preset: 200 iterations per unit, batch 32) and appends one row
to bench/peers.csv (impl genie_nb, data mct); finished rows are skipped, so the script resumes.
"""

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from official_genie import FIELDS, append_row  # noqa: E402

ORDER = [
    (m, q, b, s)
    for s, bits in ((0, ('W2A4', 'W4A4', 'W3A3')), (1, ('W2A4',)), (2, ('W2A4',)))
    for b in bits
    for m in ('default', 'mbv2')
    for q in ('rtn', 'genie', 'qdrop')
]


def done(csv_path: Path) -> set:
    "(model, method, bits, seed) of the MCT rows already in the CSV."
    if not csv_path.exists():
        return set()
    with open(csv_path) as f:
        rows = [r for r in csv.DictReader(f) if r['data'] == 'mct']
    return {(r['model'], r['method'], r['bits'], int(r['seed'])) for r in rows}


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def run_row(model, method, bits, seed, a) -> dict:
    "One `genie-nb quantize` on MCT data → a peers.csv row."
    data = REPO / 'bench/peers/data' / f'mct_{model}_seed{seed}.pt'
    info = json.loads(data.with_suffix('.json').read_text())
    w, act = bits[1:].split('A')
    out = Path(a.work) / f'mct_{model}_{method}_{bits}_seed{seed}.qpt'
    out.parent.mkdir(parents=True, exist_ok=True)
    args = ['quantize', '--model', model, '--data', str(data.relative_to(REPO)), '--method', method,
            '--w-bits', w, '--a-bits', act, '--seed', str(seed), '--threads', str(a.threads),
            '--out', str(out), '--json']  # fmt: skip
    r = subprocess.run(
        [sys.executable, '-c', 'from genie_nb.cli import cli; cli()', *args],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if r.returncode:
        raise SystemExit(f'genie-nb {" ".join(args)} failed:\n{r.stderr[-3000:]}')
    q = json.loads(r.stdout.strip().splitlines()[-1])
    row = dict(
        impl='genie_nb', model=model, data='mct', method=method, bits=bits, seed=seed,
        top1=round(q['top1'], 2), fp_top1=round(q['fp_top1'], 2), delta=round(q['top1'] - q['fp_top1'], 2),
        n=q['n'], synth_batch=info['batch'], synth_steps=info['n_iter'], iters=q['iters'],
        recon_batch_arg=q['recon_batch'],
        recon_batch_effective=q['recon_batch'], round_weight=q['round_weight'], synth_seconds=info['seconds'],
        quant_seconds=q['seconds'], eval_seconds='', threads=a.threads, torch=_torch_version(),
        adapted='genie-nb quantize --data FILE (method ' + q['data'] + ')',
        command='genie-nb ' + ' '.join(args),
    )  # fmt: skip
    return {k: row[k] for k in FIELDS}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rows', default='all', help="'all' or model:method:bits:seed,...")
    p.add_argument('--csv', default=str(REPO / 'bench/peers.csv'))
    p.add_argument('--work', default='/work/scratch/peers_q')
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args(argv)
    rows = ORDER if a.rows == 'all' else [tuple(r.split(':')) for r in a.rows.split(',')]
    rows = [(m, q, b, int(s)) for m, q, b, s in rows]
    for model, method, bits, seed in rows:
        if (model, method, bits, seed) in done(Path(a.csv)):
            continue
        if not (REPO / 'bench/peers/data' / f'mct_{model}_seed{seed}.pt').exists():
            print(f'skip {model} {method} {bits} seed {seed}: no MCT data file yet', flush=True)
            continue
        row = run_row(model, method, bits, seed, a)
        append_row(Path(a.csv), row)
        print(json.dumps(row), flush=True)


if __name__ == '__main__':
    main()
