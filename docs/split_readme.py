"""Re-apply a long-form README's sections to docs/pages/*.md (merging a branch that edits the old README).

    git show main:README.md > /tmp/old_readme.md && python docs/split_readme.py /tmp/old_readme.md

Each `## ` section of that file is written verbatim to its page (the docs/pages file holding that section);
a section with no page yet gets a new file named after its title (add it to PAGES in docs/build.py for its
place, and a link in nbs/index.ipynb's "Read more").
The part above the first `## ` (the two commands) is not a page: it lives in nbs/index.ipynb.
"""
import re, sys
from pathlib import Path

PAGES = Path(__file__).resolve().parent / 'pages'
TITLES = {'What genie_nb is': 'usage', 'The bundled benchmark': 'benchmark', 'The demo': 'demo',
          'Reliability': 'reliability', 'Deployable export': 'export', 'Results': 'results',
          'Mixed precision': 'mixed', 'Performance': 'performance', 'Scaling out': 'scaleout',
          'Compared with': 'peers',
          'Presets, protocol and where genie_nb departs from the reference code': 'protocol',
          'Where to start in `nbs/`': 'start', 'How the code is kept readable': 'readable'}


def sections(text: str) -> list[tuple[str, str]]:
    "(title, verbatim text) of every `## ` section, each up to the next one."
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith('## ')]
    ends = starts[1:] + [len(lines)]
    return [(lines[i][3:].strip(), ''.join(lines[i:j])) for i, j in zip(starts, ends)]


def page_name(title: str) -> str:
    return TITLES.get(title) or re.sub(r'[^a-z0-9]+', '_', title.lower()).strip('_')


def main(path: str) -> None:
    for title, text in sections(Path(path).read_text(encoding='utf-8')):
        page = PAGES / f'{page_name(title)}.md'
        new = not page.exists()
        if new or page.read_text(encoding='utf-8') != text:
            page.write_text(text, encoding='utf-8')
            print(f'{"new" if new else "updated"}: {page.relative_to(PAGES.parent.parent)}  ({title})')


if __name__ == '__main__':
    main(sys.argv[1])
