"""The Results section of the site, generated from the committed bench files, so no table is typed by hand.

Each page regenerates its tables from the CSV/JSON with the same function that wrote bench/*.md
(`genie_nb.bench.grid.results_markdown`, `mixed_markdown`, `threads_markdown`, bench/peers/tables.py) and shows the
committed figures. `python docs/results.py OUTDIR` writes the pages alone (docs/build.py calls `write`).
"""
from __future__ import annotations
import json, shutil, sys
from pathlib import Path

import headline

ROOT = Path(__file__).resolve().parent.parent
GRIDS = [  # (page, title, csv, command)
    ('main', 'Main grid: data source × PTQ method × bits', 'results', 'genie-nb bench grid'),
    ('real1024', 'PTQ methods on 1024 real images', 'real1024', 'genie-nb bench grid --grid real1024'),
    ('iters1000', 'Reconstruction budget: 1000 iterations per unit', 'iters1000',
     'genie-nb bench grid --grid iters1000'),
    ('images64', 'Number of synthetic images: 64', 'images64', 'genie-nb bench grid --grid images64'),
    ('images1024', 'Number of synthetic images: 1024', 'images1024', 'genie-nb bench grid --grid images1024'),
    ('ablation', 'Genie-D taken apart on MobileNetV2-small', 'ablation',
     'genie-nb bench grid --grid ablation'),
]
FIGURES = {'main': ['accuracy_vs_bits.png', 'accuracy_vs_bits_mbv2.png'],
           'images64': ['accuracy_vs_images.png'],
           'mixed': ['mixed.png']}


def figures(page: str, out: Path) -> list[str]:
    "Markdown image lines for the committed figures of a page (copied beside it)."
    lines = []
    for name in FIGURES.get(page, []):
        if (ROOT / 'bench' / name).exists():
            shutil.copy(ROOT / 'bench' / name, out / name)
            lines += [f'![{name}]({name})', '']
    return lines


def source_line(files: str, command: str) -> str:
    return f'Generated from `{files}` (committed) when the site is built; the rows come from `{command}`.'


def grid_page(page, title, csv, command, out: Path) -> str:
    from genie_nb.bench.grid import results_markdown
    return '\n'.join([f'# {title}', '', source_line(f'bench/{csv}.csv', command), '',
                      *figures(page, out), results_markdown(str(ROOT / 'bench' / f'{csv}.csv'))])


def mixed_page(out: Path) -> str:
    from genie_nb.bench.report import mixed_markdown
    src = source_line('bench/mixed.csv', 'genie-nb bench grid --grid mixed')
    return '\n'.join(['# Mixed precision', '', src,
                      '', *figures('mixed', out), mixed_markdown(str(ROOT / 'bench' / 'mixed.csv'))])


def threads_page(out: Path) -> str:
    from genie_nb.bench.threads import threads_markdown
    res = json.loads((ROOT / 'bench' / 'threads.json').read_text())
    src = source_line('bench/threads.json', 'genie-nb bench threads')
    return '\n'.join(['# Threads on a busy machine', '', src,
                      '', threads_markdown(res)])


def peers_page(out: Path) -> str:
    t = headline._tables()
    sp = ROOT / 'bench' / 'peers_speed.json'
    speed = json.loads(sp.read_text()) if sp.exists() else {}
    return '\n'.join(['# Compared with the official Genie code and Sony MCT', '',
                      source_line('bench/peers.csv, bench/results.csv, bench/peers_speed.json',
                                  'bench/peers/*.py'), '', '## Accuracy', '',
                      t.accuracy_md(t.read(ROOT / 'bench/peers.csv'), t.genie_nb_rows()),
                      '## Speed (noisy, shared machine)', '', t.speed_md(speed)])


def precision_page(out: Path) -> str:
    "Step times and accuracy at reduced precision, from the markdown the bench scripts wrote."
    steps = (ROOT / 'bench' / 'precision.md').read_text()
    acc = (ROOT / 'bench' / 'precision_accuracy.md').read_text()
    src = source_line('bench/precision.json, bench/precision_rows.csv, bench/precision_bnloss.json, '
                      'bench/peers_speed_precision.json',
                      'bench/precision.py, bench/precision_rows.py, bench/precision_bnloss.py, '
                      'bench/peers/speed.py')
    return '\n'.join(['# Reduced precision (bf16)', '', src, '', '## Step time', '', steps, acc])


def headline_page(out: Path) -> str:
    src = source_line('bench/results.csv, bench/peers.csv', 'genie-nb bench grid, '
                      'bench/peers/official_genie.py')
    return '\n'.join(['# Headline', '', src, '', *figures('main', out), headline.table()])


def write(out: Path) -> list[str]:
    "Write every results page into `out`; return their names in the order of the table of contents."
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pages = {'headline': headline_page(out)}
    for g in GRIDS:
        pages[g[0]] = grid_page(*g, out)
    pages.update(mixed=mixed_page(out), threads=threads_page(out), peers=peers_page(out))
    pages.update(precision=precision_page(out))
    for name, md in pages.items():
        (out / f'{name}.md').write_text(md + '\n', encoding='utf-8')
    return list(pages)


if __name__ == '__main__':
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path('results')))
