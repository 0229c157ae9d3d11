"""Markdown tables of the peer comparison: bench/peers.csv (+ genie_nb's own rows from bench/results.csv and
bench/ablation.csv) and bench/peers_speed.json → bench/peers.md.

    python bench/peers/tables.py
"""

import csv
import json
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BITS = ('W4A4', 'W3A3', 'W2A4')
FP = {'default': 94.47, 'mbv2': 93.69}
NAMES = {'default': 'ResNet-20', 'mbv2': 'MobileNetV2-small'}
COLUMNS = [  # (title, source csv, match)
    ('genie_nb: Genie-D data + Genie-M', 'results', dict(source='genie', method='genie')),
    ('official Genie (its data + its Genie-M)', 'peers', dict(impl='official_genie')),
    ('MCT data + genie_nb Genie-M', 'peers', dict(data='mct', method='genie')),
    ('MCT data + genie_nb QDrop', 'peers', dict(data='mct', method='qdrop')),
    ('MCT data + genie_nb RTN', 'peers', dict(data='mct', method='rtn')),
]


def read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def cell(rows, model, bits, match) -> str:
    "mean ± std over seeds (Δ FP32, seeds), '–' when not run."
    rs = [
        r
        for r in rows
        if r['model'] == model and r['bits'] == bits and all(r[k] == v for k, v in match.items())
    ]
    v = [float(r['top1']) for r in sorted(rs, key=lambda r: int(r['seed']))]
    if not v:
        return '–'
    d = statistics.mean(v) - FP[model]
    if len(v) == 1:
        return f'{v[0]:.2f} ({d:+.2f})'.replace('-', '−')
    return f'{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f} ({d:+.2f}, {len(v)} seeds)'.replace(
        '-', '−'
    )


def accuracy_md(peers, results) -> str:
    src = {'peers': peers, 'results': [r for r in results if r.get('n') == '256']}
    out = []
    for model in ('default', 'mbv2'):
        out += [f'**{NAMES[model]}** (`--model {model}`, FP32 {FP[model]} %): top-1 % on the 10k test set '
                '(Δ to FP32)', '', '| bits | ' + ' | '.join(c[0] for c in COLUMNS) + ' |',
                '|---' * (len(COLUMNS) + 1) + '|']  # fmt: skip
        for bits in BITS:
            cells = [cell(src[s], model, bits, m) for _, s, m in COLUMNS]
            out.append(f'| {bits} | ' + ' | '.join(cells) + ' |')
        out.append('')
    return '\n'.join(out)


def speed_md(speed: dict) -> str:
    if not speed:
        return '(bench/peers_speed.json not measured yet)\n'
    s = speed['summary']
    lines = [
        '| measurement | genie_nb | official Genie | official / genie_nb |',
        '|---|---|---|---|',
    ]
    labels = {
        'synth.step_s': 'synthesis step, batch 64, ResNet-20 (s)',
        'recon_default.step_s': 'reconstruction step, ResNet-20 `layer2.0`, batch 32 (s)',
        'recon_mbv2.step_s': 'reconstruction step, MobileNetV2-small `features.3`, batch 32 (s)',
        'e2e.e2e_s': 'tiny pipeline, synthesis + W4A4 reconstruction (s)',
        'e2e.synth_s': '  of which synthesis (s)',
        'e2e.quant_s': '  of which reconstruction (s)',
        'e2e.eval_s': 'top-1 on 2,000 test images (s)',
        'synth.peak_rss_mib': 'peak RSS, synthesis process (MiB)',
        'recon_default.peak_rss_mib': 'peak RSS, ResNet-20 reconstruction process (MiB)',
        'recon_mbv2.peak_rss_mib': 'peak RSS, MobileNetV2-small reconstruction process (MiB)',
        'e2e.peak_rss_mib': 'peak RSS, tiny pipeline process (MiB)',
    }
    for k, label in labels.items():
        if k in s:
            v = s[k]
            lines.append(
                f"| {label} | {v['ours']:.4g} | {v['official']:.4g} | {v['official_over_ours']:.2f}× |"
            )
    return '\n'.join(lines) + '\n'


def genie_nb_rows() -> list[dict]:
    "genie_nb's rows: the main grid's, then the ablation grid's (same settings; it adds seeds 1-2 on mbv2)."
    rows = {}
    for r in read(REPO / 'bench/results.csv') + read(REPO / 'bench/ablation.csv'):
        rows.setdefault((r['model'], r['source'], r['method'], r['bits'], r['seed']), r)
    return list(rows.values())


def main():
    peers, results = read(REPO / 'bench/peers.csv'), genie_nb_rows()
    sp = REPO / 'bench/peers_speed.json'
    speed = json.loads(sp.read_text()) if sp.exists() else {}
    md = (
        '## Accuracy\n\n'
        + accuracy_md(peers, results)
        + '\n## Speed (noisy, shared machine)\n\n'
        + speed_md(speed)
    )
    (REPO / 'bench/peers.md').write_text(md)
    print(md)


if __name__ == '__main__':
    main()
