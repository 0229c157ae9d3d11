"""The API page, generated from the public names' signatures, docstrings and inline parameter
comments (docments).

Nothing is written twice: a parameter's line on the page is the comment beside it in the notebook.
`python docs/api.py OUT.md` writes the page alone (docs/build.py calls `write`).
"""
from __future__ import annotations
import dataclasses, inspect, sys
from pathlib import Path

from fastcore.docments import docments

# (section, module, names): the stages in the data's order, then saving/export, then the widgets
PUBLIC = [
    ('Synthesis', 'genie_nb', ['synthesize', 'SynthConfig']),
    ('Quantization', 'genie_nb', ['quantize', 'QuantConfig', 'BitPolicy']),
    ('Evaluation', 'genie_nb', ['evaluate', 'layer_report']),
    ('Saving and export', 'genie_nb', ['save_quantized', 'load_quantized', 'export_onnx']),
    (
        'Widgets',
        'genie_nb.widgets',
        ['SynthViewer', 'BNAlignment', 'QuantErrorExplorer', 'BudgetExplorer', 'ReconDashboard'],
    ),
    ('Measurements: the demo', 'genie_nb.bench.demo', ['run_demo', 'DemoConfig']),
    ('Measurements: the grid', 'genie_nb.bench.grid', ['run_grid', 'run_row']),
    ('Measurements: stage speeds', 'genie_nb.bench.speed', ['bench_synth', 'bench_recon', 'synth_step_seconds']),
]


def notebook(module: str, name: str) -> str:
    "The notebook that defines `name` (nbdev's index of symbols, genie_nb/_modidx.py)."
    from genie_nb._modidx import d
    obj = getattr(__import__(module, fromlist=[name]), name)
    page = d['syms'][obj.__module__][f'{obj.__module__}.{name}'][0].split('.html')[0]  # 'qmodel', 'bench/speed'
    folder, _, stem = page.rpartition('/')
    nbs = Path(__file__).resolve().parent.parent / 'nbs' / folder
    found = next(p.stem for p in sorted(nbs.glob('*.ipynb')) if p.stem.partition('_')[2] == stem)
    return f'{folder}/{found}' if folder else found


def signature(obj) -> str:
    "The call signature as one line of Python (a class shows its constructor's)."
    try:
        return f'{obj.__name__}{inspect.signature(obj)}'
    except (TypeError, ValueError):
        return obj.__name__


def params_table(obj) -> list[str]:
    "One markdown row per parameter: name, default, its inline comment."
    try:
        docs = docments(obj, full=True)
    except Exception:
        return []  # a name docments cannot read still gets its signature and docstring
    rows = []
    for name, d in docs.items():
        if name in ('self', 'return'):
            continue
        default = '' if d.default is inspect._empty else f'`{d.default!r}`'
        meaning = (d.docment or '').replace('|', r'\|')
        rows.append(f'| `{name}` | {default} | {meaning} |')
    return ['| parameter | default | meaning |', '|---|---|---|', *rows] if rows else []


def entry(module: str, name: str) -> list[str]:
    "The page section for one public name."
    mod = __import__(module, fromlist=[name])
    obj = getattr(mod, name)
    kind = 'class' if inspect.isclass(obj) else 'function'
    doc = inspect.getdoc(obj) or ''
    if dataclasses.is_dataclass(obj) and doc.startswith(f'{name}('):
        doc = ''  # the generated one
    nb = notebook(module, name)
    src = f'defined in `{obj.__module__}`, explained in [{nb}]({nb}.ipynb)'
    return [f'### `{name}`', '', f'*{kind}*, {src}', '', '```python', signature(obj), '```', '', doc, '',
            *params_table(obj), '']


def page() -> str:
    "The whole API page as markdown."
    lines = ['# API reference', '',
             'The public names, one call per stage. Generated from each name\'s signature, docstring and the '
             'comment beside each parameter in the notebooks (fastcore `docments`).', '']
    for section, module, names in PUBLIC:
        lines += [f'## {section}', '']
        for name in names:
            lines += entry(module, name)
    return '\n'.join(lines) + '\n'


def write(path: Path) -> None:
    Path(path).write_text(page(), encoding='utf-8')


if __name__ == '__main__':
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path('api.md'))
