"""Full-test-set parity of the integer deployment form in ONNX Runtime; what the protocol costs.

Usage: python bench/export_parity_deploy.py DIR
DIR holds {default,mbv2}_w{W}a{A}.qpt (from `genie-nb quantize`) and {default,mbv2}_synth.pt (the
Genie images they were calibrated on). For each file: add the 8-bit output quantizers
(`add_output_quantizers`, calibrated on the first 256 of those images), export with
`genie-nb export --form deploy`, and compare on the 10k test images: the QModel as saved, the QModel
with output quantizers, its deployment form (PyTorch), and ONNX Runtime.
Adds `deploy_rows` to bench/export_parity.json and a second table to bench/export_parity.md.
"""

import json, subprocess, sys, tempfile
from pathlib import Path
import torch
from genie_nb.core import atomic_write_text, set_threads
from genie_nb.data import load_fmnist
from genie_nb.export import (
    input_grid,
    add_output_quantizers,
    deploy_form,
    onnx_parity,
    ort_op_summary,
    torch_logits,
)
from genie_nb.models import load_bundled
from genie_nb.qmodel import load_quantized, save_quantized
from genie_nb.synth import SyntheticData

HEAD = [
    'model',
    'W/A',
    'top-1 QModel',
    '+ output quant.',
    'deploy form',
    'ORT',
    'Δ ORT−deploy (pt)',
    'argmax agree',
    'images ≠ argmax',
    'max abs Δ / range',
    'QLinearConv',
    'float convs',
]


def export_cli(q: Path, out: Path) -> Path:
    cli = [sys.executable, '-c', 'from genie_nb.cli import cli; cli()']
    args = ['export', '--quant', str(q), '--out', str(out), '--form', 'deploy']
    subprocess.run([*cli, *args], check=True, capture_output=True)
    return out


def top1(qm, xs, ys) -> float:
    return float((torch_logits(qm, xs).argmax(1) == ys).float().mean() * 100)


def row(src: Path, name: str, w: int, a: int, xs, ys, tmp: Path) -> dict:
    qm = load_quantized(src / f'{name}_w{w}a{a}.qpt')
    base = top1(qm, xs, ys)
    calib = SyntheticData.load(src / f'{name}_synth.pt').images[:256]
    add_output_quantizers(qm, calib, grid=input_grid(load_bundled(name)[1]))  # stem input on the pixel grid
    q2 = save_quantized(qm, tmp / f'{name}_w{w}a{a}_oq.qpt', overwrite=True)
    path = export_cli(q2, tmp / f'{name}_w{w}a{a}.onnx')
    p = onnx_parity(deploy_form(qm), path, xs, ys)
    ops = ort_op_summary(path)
    return dict(
        model=name,
        w_bits=w,
        a_bits=a,
        top1_saved=base,
        top1_outq=top1(qm, xs, ys),
        **{k: qm.meta.get(k) for k in ('method', 'iters', 'n_calib', 'precision')},
        n_disagree=round((1 - p['argmax_agree']) * p['n']),
        qlinearconv=ops['fused'].get('QLinearConv'),
        float_convs=ops['float_convs'],
        **p,
    )


def markdown(rows) -> list[str]:
    md = ['| ' + ' | '.join(HEAD) + ' |', '|---|---|' + '---:|' * (len(HEAD) - 2)]
    for r in rows:
        cells = [
            r['model'],
            f"W{r['w_bits']}A{r['a_bits']}",
            f"{r['top1_saved']:.2f}",
            f"{r['top1_outq']:.2f}",
            f"{r['top1_qmodel']:.2f}",
            f"{r['top1_onnx']:.2f}",
            f"{r['top1_onnx'] - r['top1_qmodel']:+.2f}",
            f"{r['argmax_agree']:.4f}",
            str(r['n_disagree']),
            f"{r['max_diff_rel']:.2e}",
            str(r['qlinearconv']),
            str(r['float_convs']),
        ]
        md.append('| ' + ' | '.join(cells) + ' |')
    return md


if __name__ == '__main__':
    set_threads(1)
    src = Path(sys.argv[1])
    xs, ys = load_fmnist('test')
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in ('default', 'mbv2'):
            for w, a in ((8, 8), (4, 4), (2, 4)):
                if (src / f'{name}_w{w}a{a}.qpt').exists():
                    rows.append(row(src, name, w, a, xs, ys, Path(d)))
                    print(
                        {
                            k: rows[-1][k]
                            for k in (
                                'model',
                                'w_bits',
                                'a_bits',
                                'top1_saved',
                                'top1_outq',
                                'top1_qmodel',
                                'top1_onnx',
                                'n_disagree',
                            )
                        },
                        flush=True,
                    )
    js = Path('bench/export_parity.json')
    rep = json.loads(js.read_text())
    rep['deploy_rows'], rep['deploy_command'] = rows, 'python bench/export_parity_deploy.py ' + sys.argv[1]
    atomic_write_text(json.dumps(rep, indent=1) + '\n', js)
    md = Path('bench/export_parity.md').read_text().split('\n\n## Deployment form')[0].rstrip('\n')
    md += '\n\n## Deployment form (integer kernels in ONNX Runtime)\n\n' + '\n'.join(markdown(rows))
    md += f"\n\n`{rep['deploy_command']}`\n"
    atomic_write_text(md, 'bench/export_parity.md')
