"""Build the docs site from the notebooks: execute each notebook of `nbs/` once, then render with Sphinx.

Usage: `python docs/build.py [--out _docs] [--workers 2]` from the repository root (CI: `.ci/run`).
The execution is also the notebooks' test run (it replaces `nbdev_test`): it skips the same cells
(`#| eval: false` and the `tst_flags` of settings.ini), runs each notebook in `nbs/` as its working directory
with `IN_TEST=1`, and stops with the notebook's name and the failing cell's error (exit 1), never a page
holding a traceback. Executed notebooks are cached under OUT/cache, keyed by the notebook's bytes, the
library's sources, GENIE_NB_THREADS and EXECUTION (bump it when the way notebooks are executed changes).
OUT is created by the build and carries a marker file; an existing folder without it is refused (exit 2).
"""
from __future__ import annotations
import argparse, configparser, hashlib, json, os, re, shutil, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import posixpath

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / 'docs'
MARKER = '.genie_nb_docs'
EXECUTION = '1'  # part of the cache key: how a notebook is executed (skipped cells, environment)
# seconds the slow notebooks took on a loaded 2-core machine: with no timings.json (a fresh clone) the long
# ones start first, so the two workers finish together
SLOW = {'bench/01_demo': 300, 'bench/00_grid': 200, '20_tour': 318, '08_widgets': 195, '13_mixed': 121,
        '11_train': 104, '30_imagenet': 97}
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*)$')
LINK = re.compile(r'(\]\()([^)\s]+)(\))')
SITE = {'nbs/': '', 'docs/pages/': 'pages/', 'bench/': 'bench/'}  # repository path -> site path


class BuildError(Exception):
    "A failure the build reports in one line (exit 1), e.g. a notebook that does not execute."


def prepare_out(out: Path) -> None:
    "Create OUT with its marker, or accept it if a previous build made it; refuse any other existing folder."
    if out.exists() and not (out / MARKER).exists():
        sys.exit(print(f'docs: refusing to write into {out}: it exists and was not made by docs/build.py '
                       f'(no {MARKER} in it); remove it or pass another --out', file=sys.stderr) or 2)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text('made by docs/build.py, which may rewrite anything in this folder\n')


def skip_flags() -> set[str]:
    "The cell flags nbdev_test skips (settings.ini `tst_flags`)."
    cfg = configparser.ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini', encoding='utf-8')
    return set(cfg['DEFAULT'].get('tst_flags', '').split())


def directives(src: str) -> dict[str, str]:
    "The nbdev `#| name: value` lines at the top of a cell, as {name: value}."
    out = {}
    for line in src.splitlines():
        m = DIRECTIVE.match(line)
        if not m:
            if line.strip():
                break
            continue
        name, _, value = m.group(1).partition(':')
        key = name.split()[0] if name.split() else ''
        out[key] = (value or name[len(key):]).strip()
    return out


def strip_directives(src: str) -> str:
    "The cell's source without its leading directive lines (what the page shows)."
    lines = src.splitlines()
    while lines and (DIRECTIVE.match(lines[0]) or not lines[0].strip()):
        lines.pop(0)
    return '\n'.join(lines)


def mark_cells(nb, flags: set[str]) -> None:
    "Tag cells for nbclient (skip-execution, as nbdev_test skips) and myst-nb (what the page hides)."
    for cell in nb.cells:
        if cell.cell_type != 'code':
            continue
        d = directives(cell.source)
        tags = set(cell.metadata.get('tags', []))
        if d.get('eval', '').lower() == 'false' or flags & d.keys() or 'nbdev_export(' in cell.source:
            tags.add('skip-execution')
        if 'hide' in d or 'default_exp' in d:
            tags.add('remove-cell')
        if d.get('echo', '').lower() == 'false':
            tags.add('remove-input')
        if d.get('output', '').lower() == 'false':
            tags.add('remove-output')
        cell.metadata['tags'] = sorted(tags)


def cache_key(nb_path: Path) -> str:
    "A hash of what an execution depends on: the notebook, the library's sources, the threads, EXECUTION."
    h = hashlib.sha256(nb_path.read_bytes())
    for p in sorted((ROOT / 'genie_nb').rglob('*.py')):  # nbdev's `# %%` cell markers carry no behaviour
        h.update(re.sub(rb'^# %%.*$', b'', p.read_bytes(), flags=re.M))
    h.update(EXECUTION.encode())
    h.update(os.environ.get('GENIE_NB_THREADS', '').encode())
    return h.hexdigest()[:16]


def first_error(nb) -> str:
    "The failing cell's number and its error line, from an executed notebook's outputs."
    for i, cell in enumerate(nb.cells):
        for o in cell.get('outputs', []):
            if o.get('output_type') == 'error':
                return f'cell {i}: {o["ename"]}: {o["evalue"]}'
    return 'unknown cell'


def execute(nb_path: str, dest: str, timeout: int) -> tuple[str, float, str | None]:
    "Execute one notebook (in a worker process) into `dest`; return (name, seconds, error or None)."
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    os.environ['IN_TEST'] = '1'
    nb_path, t0 = Path(nb_path), time.time()
    name = nb_name(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    mark_cells(nb, skip_flags())
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', store_widget_state=True,
                            resources={'metadata': {'path': str(nb_path.parent)}})
    try:
        client.execute()
    except CellExecutionError:
        return name, time.time() - t0, first_error(nb)
    except Exception as e:  # a kernel that died or a cell that timed out
        first = str(e).splitlines()[0] if str(e) else ''
        return name, time.time() - t0, f'{type(e).__name__}: {first}'
    tmp = Path(dest).with_suffix('.tmp')
    nbformat.write(nb, tmp)
    tmp.replace(dest)  # an interrupted build never leaves a half-written cache entry
    return name, time.time() - t0, None


def notebooks() -> list[Path]:
    "The notebooks of nbs/ in their reading order (index first), then those of nbs/bench/ (the measurements)."
    nbs = sorted((ROOT / 'nbs').glob('*.ipynb'))
    bench = sorted((ROOT / 'nbs' / 'bench').glob('*.ipynb'))
    return sorted(nbs, key=lambda p: p.name != 'index.ipynb') + bench


def nb_name(p: Path) -> str:
    "A notebook's path below nbs/ ('03_synth.ipynb', 'bench/00_grid.ipynb': its page); elsewhere its name."
    p = p.resolve()
    return p.relative_to(ROOT / 'nbs').as_posix() if p.is_relative_to(ROOT / 'nbs') else p.name


def execute_all(out: Path, workers: int, timeout: int) -> dict[str, Path]:
    "Executed copies of every notebook, from the cache or run now (longest last-known run first)."
    cache = out / 'cache'
    cache.mkdir(exist_ok=True)
    times_f = cache / 'timings.json'
    times = json.loads(times_f.read_text()) if times_f.exists() else {}
    done, todo = {}, []
    for p in notebooks():
        name = nb_name(p)
        dest = cache / f"{name[:-len('.ipynb')].replace('/', '__')}-{cache_key(p)}.ipynb"
        done[name] = dest
        if not dest.exists():
            todo.append((p, dest))
    todo.sort(key=lambda t: -times.get(nb_name(t[0]), SLOW.get(nb_name(t[0])[:-len('.ipynb')], 0)))
    print(f'docs: executing {len(todo)} notebooks ({len(done) - len(todo)} cached), {workers} workers',
          flush=True)
    errors = []
    with ProcessPoolExecutor(workers) as pool:
        futs = [pool.submit(execute, str(p), str(d), timeout) for p, d in todo]
        for f in futs:
            name, secs, err = f.result()
            times[name] = round(secs, 1)
            print(f'docs: {name} {"FAILED" if err else "ok"} in {secs:.1f} s', flush=True)
            if err:
                errors.append(f'nbs/{name} failed at {err}')
    times_f.write_text(json.dumps(times, indent=1, sort_keys=True))
    if errors:
        raise BuildError('; '.join(errors))
    return done


def site_link(target: str, here: str, page_dir: str) -> str:
    "A link written relative to the repository folder `here`, made relative to the page's folder in the site."
    if re.match(r'^[a-z]+:|^#|^/', target):
        return target
    path = posixpath.normpath(posixpath.join(here, target))
    for repo, site in SITE.items():
        if path.startswith(repo):
            return posixpath.relpath(site + path[len(repo):], page_dir or '.')
    return target


def site_links(md: str, here: str, page_dir: str = '') -> str:
    "Every markdown link of `md` (written in repository folder `here`) as a page in `page_dir` needs it."
    return LINK.sub(lambda m: m.group(1) + site_link(m.group(2), here, page_dir) + m.group(3), md)


def page_copy(executed: Path, dest: Path, page_dir: str, tocs: list | None = None) -> None:
    "The executed notebook as its page in site folder `page_dir` shows it: no directives; the index's toc."
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == 'code':
            cell.source = strip_directives(cell.source)
        else:
            cell.source = site_links(cell.source, posixpath.join('nbs', page_dir), page_dir)
    for caption, entries in tocs or []:
        body = '\n'.join(entries)
        toc = f'```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: {caption}\n\n{body}\n```'
        nb.cells.append(nbformat.v4.new_markdown_cell(toc))
    nbformat.write(nb, dest)


# docs/pages/*.md in the former README's order (precision after performance); a new page goes after these
PAGES = ('usage benchmark demo results reliability export mixed performance precision scaleout peers '
         'protocol start readable architecture').split()


def page_order(stem: str) -> tuple:
    return (PAGES.index(stem), '') if stem in PAGES else (len(PAGES), stem)


def assemble(out: Path, executed: dict[str, Path]) -> Path:
    "The Sphinx source tree: conf.py, the executed notebooks, the pages and the generated API/results pages."
    src = out / 'src'
    if src.exists():
        shutil.rmtree(src)
    (src / '_static').mkdir(parents=True)
    shutil.copy(DOCS / 'conf.py', src / 'conf.py')
    (src / 'pages').mkdir()
    for page in (DOCS / 'pages').glob('*.md'):  # former README sections: links were relative to the root
        (src / 'pages' / page.name).write_text(site_links(page.read_text(), '', 'pages'), encoding='utf-8')
    (src / 'bench').mkdir()
    for fig in (ROOT / 'bench').glob('*.png'):
        shutil.copy(fig, src / 'bench' / fig.name)
    copy_widget_manager(src / '_static' / 'html-manager')
    sys.path.insert(0, str(DOCS))
    import api, results  # generated pages: docs/api.py, docs/results.py
    api.write(src / 'api.md')
    result_pages = results.write(src / 'results')
    nb_pages = [n[:-len('.ipynb')] for n in executed if n != 'index.ipynb' and '/' not in n]
    bench_pages = [n[:-len('.ipynb')] for n in executed if n.startswith('bench/')]
    pages = sorted((p.stem for p in (DOCS / 'pages').glob('*.md')), key=page_order)
    tocs = [('Notebooks', nb_pages), ('Measurements (genie_nb.bench)', bench_pages), ('Reference', ['api']),
            ('Results', [f'results/{r}' for r in result_pages]),
            ('Guides (the former README)', [f'pages/{p}' for p in pages])]
    for name, path in executed.items():
        page_dir = posixpath.dirname(name)
        (src / page_dir).mkdir(exist_ok=True)
        page_copy(path, src / name, page_dir, tocs if name == 'index.ipynb' else None)
    return src


def copy_widget_manager(dest: Path) -> None:
    "The ipywidgets HTML manager (npm, docs/package.json) into the site's _static, so no page needs a CDN."
    dist = DOCS / 'node_modules' / '@jupyter-widgets' / 'html-manager' / 'dist'
    if not (dist / 'embed.js').exists():
        raise BuildError(f'{dist}/embed.js is missing: run `npm ci --prefix docs` once (npm registry)')
    shutil.copytree(dist, dest, ignore=shutil.ignore_patterns('*.map', '*amd.js'))


def sphinx(src: Path, html: Path) -> None:
    "Render the site; Sphinx's own errors end the build."
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-j', '2', str(src), str(html)]
    r = subprocess.run(cmd, cwd=ROOT)
    if r.returncode:
        raise BuildError(f'sphinx-build exited {r.returncode}')


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='_docs', help='output folder (made by the build; the site is OUT/html)')
    ap.add_argument('--workers', type=int, default=2, help='notebooks executed at the same time')
    ap.add_argument('--timeout', type=int, default=900, help='seconds one cell may run')
    args = ap.parse_args(argv)
    out, t0 = (ROOT / args.out).resolve(), time.time()
    prepare_out(out)
    try:
        executed = execute_all(out, args.workers, args.timeout)
        sphinx(assemble(out, executed), out / 'html')
    except BuildError as e:
        print(f'docs: {e}', file=sys.stderr)
        return 1
    print(f'docs: built {out / "html" / "index.html"} in {time.time() - t0:.0f} s', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
