"""Measures of the library's structure, for a refactoring's before/after table.

    python bench/structure.py            # a markdown table of the measures
    python bench/structure.py --json     # the same as JSON

- library lines: lines of the modules in `genie_nb/` outside `genie_nb/bench/` (blank lines and `_modidx.py` left out);
- bench_* definitions outside `genie_nb/bench/`, and library modules importing from it (the CLI aside);
- private imports: `from .mod import _name` between library modules;
- per library notebook (00-14): test cells (a code cell that is not exported and calls `test_*` or `assert`)
  per export cell, and the share of export cells followed by a non-exported code cell before the next export."""

import argparse
import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / 'genie_nb'
TEST_RE = re.compile(r'\b(test_eq|test_ne|test_close|test_fail|test_is|test_warns|test_stdout|assert)\b')
EXPORT_RE = re.compile(r'^#\|\s*export', re.M)


def library_modules() -> list[Path]:
    "The library's modules: every .py under genie_nb/ but the bench package and the index nbdev writes."
    mods = [p for p in LIB.rglob('*.py') if p.name != '_modidx.py']
    return sorted(p for p in mods if p.relative_to(LIB).parts[0] != 'bench')  # the package, not a bench.py


def code_lines(p: Path) -> int:
    return sum(1 for line in p.read_text().splitlines() if line.strip())


def imports_of(p: Path) -> list[ast.ImportFrom]:
    tree = ast.parse(p.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]


def private_imports(mods: list[Path]) -> list[str]:
    out = []
    for p in mods:
        for n in imports_of(p):
            out += [f'{p.name}: {n.module}.{a.name}' for a in n.names if a.name.startswith('_')]
    return out


def bench_leaks(mods: list[Path]) -> dict:
    "bench_* functions defined in library modules, and library modules (the CLI aside) importing the bench code."
    defs, users = [], []
    for p in mods:
        tree = ast.parse(p.read_text())
        if p.name == 'cli.py':
            continue
        defs += [f'{p.name}: {n.name}' for n in tree.body
                 if isinstance(n, ast.FunctionDef) and n.name.lstrip('_').startswith('bench')]
        if any((n.module or '').split('.')[0] == 'bench' for n in imports_of(p)):
            users.append(p.name)
    return {'bench_defs': defs, 'bench_users': users}


def is_export(src: str) -> bool:
    return bool(EXPORT_RE.search(src))


def notebook_cells(nb: Path) -> list[str]:
    cells = json.loads(nb.read_text())['cells']
    return [''.join(c['source']) for c in cells if c['cell_type'] == 'code']


def notebook_measures(nb: Path) -> dict:
    cells = notebook_cells(nb)
    exports = [i for i, s in enumerate(cells) if is_export(s)]
    tests = [s for s in cells if not is_export(s) and TEST_RE.search(s)]
    bounds = exports[1:] + [len(cells)]
    followed = sum(any(not is_export(cells[j]) for j in range(i + 1, b)) for i, b in zip(exports, bounds))
    return {'export': len(exports), 'tests': len(tests), 'followed': followed}


def library_notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / 'nbs').glob('[01]*.ipynb'))


def measures() -> dict:
    mods = library_modules()
    per_nb = {nb.stem: notebook_measures(nb) for nb in library_notebooks()}
    n_exp = sum(v['export'] for v in per_nb.values())
    return {
        'library_lines': sum(code_lines(p) for p in mods),
        'private_imports': private_imports(mods),
        **bench_leaks(mods),
        'tests_per_export': round(sum(v['tests'] for v in per_nb.values()) / max(n_exp, 1), 2),
        'followed_share': round(sum(v['followed'] for v in per_nb.values()) / max(n_exp, 1), 2),
        'notebooks': per_nb,
    }


def markdown(m: dict) -> str:
    rows = [
        ('library lines (non-blank, genie_nb/ outside bench)', m['library_lines']),
        ('bench_* definitions in library modules (CLI aside)', len(m['bench_defs'])),
        ('library modules importing the bench code (CLI aside)', len(m['bench_users'])),
        ('private imports between library modules', len(m['private_imports'])),
        ('test cells per export cell (notebooks 00-14)', m['tests_per_export']),
        ('export cells followed by an example', f"{m['followed_share']:.0%}"),
    ]
    lines = ['| measure | value |', '|---|---:|'] + [f'| {k} | {v} |' for k, v in rows]
    lines += ['', '| notebook | export cells | test cells | per export | followed by an example |',
              '|---|---:|---:|---:|---:|']
    for k, v in m['notebooks'].items():
        e = max(v['export'], 1)
        lines.append(f"| {k} | {v['export']} | {v['tests']} | {v['tests'] / e:.2f} | {v['followed'] / e:.0%} |")
    return '\n'.join(lines)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    m = measures()
    print(json.dumps(m, indent=1) if a.json else markdown(m))
