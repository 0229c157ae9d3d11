"""Tables of reduced-precision accuracy from the committed files (nothing typed by hand).

    python bench/precision_tables.py          # writes bench/precision_accuracy.md

- accuracy: bench/precision_rows.csv (Genie-D + Genie-M at `auto`) beside the fp32 rows of the same model,
  bits and seed (bench/results.csv, the main grid; bench/ablation.csv's unablated Genie-D rows where the
  main grid has no such seed), as mean ± sd over the seeds both have;
- the BN loss reached: bench/precision_bnloss.json (mean of the last 20 of 200 steps, relative to fp32);
- speed against the official Genie code: bench/peers_speed_precision.json."""

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = {'default': 'ResNet-20', 'mbv2': 'MobileNetV2-small'}


def read_csv(name: str) -> list:
    with (HERE / name).open() as f:
        return list(csv.DictReader(f))


def fp32_rows() -> dict:
    "(model, bits, seed) → top-1 of the fp32 Genie-D + Genie-M rows (main grid, then the ablation grid's)."
    rows = read_csv('ablation.csv') + read_csv('results.csv')  # the main grid's row wins where both have one
    rows = [r for r in rows if (r['source'], r['method']) == ('genie', 'genie')]
    return {(r['model'], r['bits'], r['seed']): float(r['top1']) for r in rows}


def mean_sd(xs: list) -> str:
    if len(xs) < 2:
        return f'{xs[0]:.2f}'
    return f'{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}'


def accuracy_table() -> str:
    "Per (model, bits, iters): fp32 and auto top-1 over the seeds both have."
    fp = fp32_rows()
    groups = defaultdict(list)
    for r in read_csv('precision_rows.csv'):
        groups[(r['model'], r['bits'], r['precision'], r.get('iters_asked') or '')].append(r)
    lines = [
        '| model | bits | precision | recon iters | seeds | fp32 top-1 (grid) | top-1 here '
        '| here − grid, per seed |',
        '|---|---|---|---:|---|---:|---:|---|',
    ]
    for (model, bits, prec, iters), rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: int(r['seed']))
        seeds = [r['seed'] for r in rows]
        ours = [float(r['top1']) for r in rows]
        base = [fp.get((model, bits, s)) for s in seeds]
        diffs = ', '.join('—' if b is None else f'{o - b:+.2f}' for o, b in zip(ours, base))
        base_txt = mean_sd([b for b in base if b is not None]) if any(b is not None for b in base) else '—'
        lines.append(
            f"| {NAMES[model]} | {bits} | {prec} | {iters or rows[0]['iters']} | {','.join(seeds)} | "
            f"{base_txt} | {mean_sd(ours)} | {diffs} |"
        )
    return '\n'.join(lines)


def bnloss_table() -> str:
    "Mean BN loss of the last 20 synthesis steps, per model and precision (mean over seeds)."
    res = json.loads((HERE / 'precision_bnloss.json').read_text())
    groups = defaultdict(list)
    for r in res['rows']:
        groups[(r['model'], r['precision'])].append(r)
    lines = ['| model | precision | seeds | BN loss, last 20 steps | relative to fp32 (per seed) |']
    lines.append('|---|---|---|---:|---|')
    for (model, prec), rows in groups.items():
        rel = ', '.join(f"{100 * r.get('last20_rel_to_fp32', 0):+.1f} %" for r in rows)
        loss = statistics.mean(r['last20'] for r in rows)
        seeds = ','.join(str(r['seed']) for r in rows)
        lines.append(f'| {NAMES[model]} | {prec} | {seeds} | {loss:.4f} | {rel} |')
    return f"`{res['command']}`\n\n" + '\n'.join(lines)


def official_table() -> str:
    "Seconds per step, ours at fp32 and auto against the official code."
    res = json.loads((HERE / 'peers_speed_precision.json').read_text())
    lines = [
        '| step | genie_nb fp32 | genie_nb auto | official | official ÷ ours fp32 | official ÷ ours auto |',
        '|---|---:|---:|---:|---:|---:|',
    ]
    for kind in ('synth', 'recon_default', 'recon_mbv2'):
        s = res['summary'].get(f'{kind}.step_s')
        if s is None:
            continue
        lines.append(
            f"| {kind} | {s['ours']:.4f} | {s['ours_auto']:.4f} | {s['official']:.4f} | "
            f"{s['official_over_ours']:.2f}× | {s['official_over_ours_auto']:.2f}× |"
        )
    return f"`{res['command']}` ({res['threads']} thread, median of {res['reps']})\n\n" + '\n'.join(lines)


if __name__ == '__main__':
    parts = [
        '## Accuracy at `auto` (bf16 where fast) against the fp32 grid rows\n',
        'fp32 rows here are the same protocol rerun on this machine (float bits differ across CPU models).\n',
        'Rows: `python bench/precision_rows.py` (bench/precision_rows.csv); fp32: bench/results.csv.\n',
        accuracy_table(),
        '\n## BN loss reached in the same 200 steps\n',
        bnloss_table(),
        '\n## Against the official Genie code\n',
        official_table(),
    ]
    (HERE / 'precision_accuracy.md').write_text('\n'.join(parts) + '\n')
    print((HERE / 'precision_accuracy.md').read_text())
