"""README.md from nbs/index.ipynb (as nbdev makes a README from the index notebook; nbdev's own needs Quarto).

    python docs/readme.py             # write README.md
    python docs/readme.py --check     # exit 1 if README.md is not what index.ipynb gives (tests/test_docs.py)
    python docs/readme.py --refresh   # re-execute index.ipynb first, so its stored tables are today's CSVs

Markdown cells are copied; a code cell shows its source (unless `#| echo: false`) and its markdown outputs;
`#| hide` cells are left out. Links are relative to nbs/ in the notebook and rewritten to the repository root.
"""
from __future__ import annotations
import argparse, posixpath, re, subprocess, sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
INDEX, README = ROOT / 'nbs' / 'index.ipynb', ROOT / 'README.md'
HEADER = '<!-- generated from nbs/index.ipynb by docs/readme.py: edit the notebook, then run that script -->'
LINK = re.compile(r'(\]\()([^)\s]+)(\))')
sys.path.insert(0, str(ROOT / 'docs'))
from build import directives, strip_directives  # noqa: E402  (one reading of nbdev's cell directives)


def root_link(target: str) -> str:
    "A link written relative to nbs/, made relative to the repository root (URLs and anchors unchanged)."
    if re.match(r'^[a-z]+:|^#|^/', target):
        return target
    return posixpath.normpath(posixpath.join('nbs', target))


def rewrite_links(md: str) -> str:
    return LINK.sub(lambda m: m.group(1) + root_link(m.group(2)) + m.group(3), md)


def code_cell(cell) -> list[str]:
    "The README text of one code cell: its source as a python block, then its markdown outputs."
    d = directives(cell.source)
    if 'hide' in d:
        return []
    shown = d.get('echo', '').lower() != 'false'
    parts = [f'```python\n{strip_directives(cell.source)}\n```'] if shown else []
    for o in cell.get('outputs', []):
        md = o.get('data', {}).get('text/markdown')
        if md:
            parts.append(md.strip() if isinstance(md, str) else ''.join(md).strip())
    return parts


def render(nb) -> str:
    "The README for an index notebook."
    parts = [HEADER]
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            parts.append(cell.source.strip())
        elif cell.cell_type == 'code':
            parts += code_cell(cell)
    return rewrite_links('\n\n'.join(parts)) + '\n'


def refresh() -> None:
    "Re-execute index.ipynb in place (its skipped cells stay skipped), then nbdev_clean it."
    from nbclient import NotebookClient
    from build import mark_cells, skip_flags
    nb = nbformat.read(INDEX, as_version=4)
    tags = {id(c): list(c.metadata.get('tags', [])) for c in nb.cells}
    mark_cells(nb, skip_flags())
    where = {'metadata': {'path': str(INDEX.parent)}}
    NotebookClient(nb, timeout=300, kernel_name='python3', resources=where).execute()
    for c in nb.cells:  # the source notebook keeps its own metadata, not the build's tags
        if tags[id(c)]:
            c.metadata['tags'] = tags[id(c)]
        else:
            c.metadata.pop('tags', None)
    nbformat.write(nb, INDEX)
    subprocess.run([Path(sys.executable).parent / 'nbdev_clean', '--fname', str(INDEX)], check=True, cwd=ROOT)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description='README.md from nbs/index.ipynb')
    ap.add_argument('--check', action='store_true', help='only compare; exit 1 if README.md is stale')
    ap.add_argument('--refresh', action='store_true', help='re-execute index.ipynb before writing')
    args = ap.parse_args(argv)
    if args.refresh:
        refresh()
    text = render(nbformat.read(INDEX, as_version=4))
    if args.check:
        if README.read_text(encoding='utf-8') == text:
            return 0
        print('README.md differs from nbs/index.ipynb: run `python docs/readme.py`', file=sys.stderr)
        return 1
    README.write_text(text, encoding='utf-8')
    print(f'README.md: {text.count(chr(10))} lines')
    return 0


if __name__ == '__main__':
    sys.exit(main())
