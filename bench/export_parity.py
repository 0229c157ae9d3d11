"""Full-test-set parity of ONNX QDQ exports in ONNX Runtime vs the QModel.

Usage: python bench/export_parity.py DIR  (DIR holds {default,mbv2}_w{W}a{A}.qpt from `genie-nb quantize`);
writes bench/export_parity.json and .md. Each file is exported with `genie-nb export`.
"""

import json, subprocess, sys
from pathlib import Path
from genie_nb.core import atomic_write_text, set_threads
from genie_nb.data import load_fmnist
from genie_nb.export import onnx_parity
from genie_nb.qmodel import load_quantized

HEAD = [
    'model',
    'W/A',
    'calib. images',
    'top-1 QModel',
    'top-1 ORT',
    'Δ top-1 (pt)',
    'max abs Δ logit',
    '/ logit range',
    'mean abs Δ',
    'argmax agree',
    'QModel b=1 vs b=256 (/ range)',
]
FMT = [
    ('top1_qmodel', '.2f'),
    ('top1_onnx', '.2f'),
    ('top1_diff_pt', '.2f'),
    ('max_abs_diff', '.2e'),
    ('max_diff_rel', '.2e'),
    ('mean_abs_diff', '.1e'),
    ('argmax_agree', '.4f'),
    ('self_max_diff_rel', '.2e'),
]


def export_cli(q: Path) -> Path:
    out = q.with_suffix('.onnx')
    cli = [sys.executable, '-c', 'from genie_nb.cli import cli; cli()']
    args = ['export', '--quant', str(q), '--out', str(out), '--form', 'qdq']  # the exact QDQ graph
    subprocess.run([*cli, *args], check=True, capture_output=True)
    return out


set_threads(1)
src = Path(sys.argv[1])
xs, ys = load_fmnist('test')
rows = []
for name in ('default', 'mbv2'):
    for w, a in ((8, 8), (4, 4), (2, 4)):
        q = src / f'{name}_w{w}a{a}.qpt'
        if q.exists():
            qm = load_quantized(q)
            p = onnx_parity(qm, export_cli(q), xs, ys, batch=256)
            meta = {k: qm.meta.get(k) for k in ('method', 'iters', 'n_calib')}
            rows.append(dict(model=name, w_bits=w, a_bits=a, **meta, **p))
            print(rows[-1], flush=True)
md = ['| ' + ' | '.join(HEAD) + ' |', '|---|---|---:|' + '---:|' * len(FMT)]
for r in rows:
    cells = [r['model'], f"W{r['w_bits']}A{r['a_bits']}", str(r['n_calib'])] + [
        format(r[k], f) for k, f in FMT
    ]
    md.append('| ' + ' | '.join(cells) + ' |')
command = 'python bench/export_parity.py ' + sys.argv[1]
old = json.loads(Path('bench/export_parity.json').read_text())  # keep the deployment rows
rep = {**old, 'rows': rows, 'command': command}
atomic_write_text(json.dumps(rep, indent=1) + '\n', 'bench/export_parity.json')
atomic_write_text('\n'.join(md) + '\n', 'bench/export_parity.md')
