"""The README's headline table, computed from the committed CSVs (bench/results.csv, bench/peers.csv).

nbs/index.ipynb displays `table()`; `python docs/headline.py` prints it.
The cells reuse bench/peers/tables.py.
"""
from __future__ import annotations
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BITS = ('W4A4', 'W3A3', 'W2A4')
COLUMNS = [  # (title, source csv, match): zero-shot, real data, the official code's zero-shot
    ('genie_nb zero-shot (Genie-D + Genie-M)', 'results', dict(source='genie', method='genie')),
    ('genie_nb, 256 real images (Genie-M)', 'results', dict(source='real', method='genie')),
    ('official Genie code, zero-shot', 'peers', dict(impl='official_genie')),
]


def _tables():
    "bench/peers/tables.py as a module (it is a script beside the results, not part of the package)."
    spec = importlib.util.spec_from_file_location('peer_tables', ROOT / 'bench' / 'peers' / 'tables.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def table() -> str:
    "Top-1 % on the 10k test set (Δ to FP32) for both bundled models, as one markdown table."
    t = _tables()
    src = {'peers': t.read(ROOT / 'bench/peers.csv'),
           'results': [r for r in t.genie_nb_rows() if r.get('n', '256') == '256']}
    lines = ['| model (FP32 top-1) | bits | ' + ' | '.join(c[0] for c in COLUMNS) + ' |',
             '|---' * (len(COLUMNS) + 2) + '|']
    for model in ('default', 'mbv2'):
        for bits in BITS:
            cells = [t.cell(src[s], model, bits, m) for _, s, m in COLUMNS]
            lines.append(f'| {t.NAMES[model]} ({t.FP[model]} %) | {bits} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    print(table())
