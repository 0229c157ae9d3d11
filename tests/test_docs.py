"""The docs site and the README (issue #26).

- The README is generated from nbs/index.ipynb (`docs/readme.py --check`), is at most 200 lines, its headline
  table is today's `docs/headline.py` output (so it follows the committed CSVs), and its test command is
  `.ci/run`'s.
- A real browser (Debian's Chromium through Playwright, as tests/test_browser.py) reads the built site
  served on localhost: the index loads with no console error and no request leaving localhost; the tour
  shows the gallery, the BN-alignment chart and the explorer chart as images; a slider is rendered from
  the saved widget state; the API page lists `quantize`; search finds "swing". A screenshot of the tour
  goes to tests/screenshots/.

The site is the one `.ci/run` built (`_docs/html`, by `docs/build.py` before pytest); `GENIE_NB_DOCS_HTML`
points elsewhere. When there is none, the test builds it (`python docs/build.py`: executes every notebook).
"""

import functools, http.server, os, re, shutil, subprocess, sys, threading
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'docs'))
import build, headline, readme  # noqa: E402

CHROMIUM = os.environ.get('GENIE_NB_CHROMIUM', shutil.which('chromium') or '/usr/bin/chromium')
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-quic']
T = int(float(os.environ.get('GENIE_NB_BROWSER_TIMEOUT_S', 120)) * 1000)  # per wait, in ms
SHOTS = Path(__file__).parent / 'screenshots'


def test_readme_is_generated_from_index():
    assert readme.main(['--check']) == 0, 'README.md is stale: run `python docs/readme.py`'
    assert len((ROOT / 'README.md').read_text().splitlines()) <= 200


def test_headline_table_follows_the_csvs():
    "The table stored in index.ipynb (hence in the README) is what the committed CSVs give today."
    nb = nbformat.read(ROOT / 'nbs' / 'index.ipynb', as_version=4)
    stored = [o['data']['text/markdown'] for c in nb.cells if c.cell_type == 'code'
              for o in c.get('outputs', []) if 'text/markdown' in o.get('data', {})]
    assert [s.strip() for s in stored] == [headline.table().strip()], 'run `python docs/readme.py --refresh`'


def test_readme_test_command_is_ci_run():
    commands = re.findall(r'```bash\n(.*?)\n```', (ROOT / 'README.md').read_text(), re.S)
    assert commands[1] in (ROOT / '.ci' / 'run').read_text().splitlines()


def test_docs_refuses_a_folder_it_did_not_create(tmp_path):
    out = tmp_path / 'mine'
    out.mkdir()
    r = subprocess.run([sys.executable, ROOT / 'docs' / 'build.py', '--out', str(out)], capture_output=True,
                       text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and 'refusing' in r.stderr
    assert list(out.iterdir()) == []


def test_a_failing_notebook_names_itself_and_its_cell(tmp_path):
    "The build's execution step: skipped cells stay skipped, an error is one line naming the cell, no page."
    cells = [nbformat.v4.new_code_cell('#| eval: false\nraise SystemExit("skipped")'),
             nbformat.v4.new_code_cell('#| slow\nraise SystemExit("skipped too")'),
             nbformat.v4.new_code_cell('x = 1'), nbformat.v4.new_code_cell('1 / 0')]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / 'bad.ipynb')
    name, _, err = build.execute(str(tmp_path / 'bad.ipynb'), str(tmp_path / 'out.ipynb'), 60)
    assert (name, err) == ('bad.ipynb', 'cell 3: ZeroDivisionError: division by zero')
    assert not (tmp_path / 'out.ipynb').exists()


@pytest.fixture(scope='module')
def site():
    "The built site served on 127.0.0.1; yields its base URL."
    html = Path(os.environ.get('GENIE_NB_DOCS_HTML', ROOT / '_docs' / 'html'))
    if not (html / 'index.html').exists():
        subprocess.run([sys.executable, ROOT / 'docs' / 'build.py'], check=True, cwd=ROOT)
    handler = functools.partial(Quiet, directory=str(html))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def browser():
    pw = pytest.importorskip('playwright.sync_api')
    if not Path(CHROMIUM).exists():
        pytest.skip(f'no Chromium at {CHROMIUM} (apt-get install chromium)')
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, site, path):
    "A page at `path` that records console errors and refuses (and records) every request leaving localhost."
    page = browser.new_page(viewport=dict(width=1400, height=1000))
    page.errors, page.outside = [], []
    page.on('console', lambda m: m.type == 'error' and page.errors.append(m.text))
    page.on('pageerror', lambda e: page.errors.append(str(e)))

    def route(r):
        if r.request.url.startswith(site) or r.request.url.startswith('data:'):
            return r.continue_()
        page.outside.append(r.request.url)
        return r.abort()
    page.route('**/*', route)
    page.goto(f'{site}/{path}', timeout=T, wait_until='load')
    return page


def test_index_loads_offline(browser, site):
    page = open_page(browser, site, 'index.html')
    page.wait_for_selector('h1', timeout=T)
    assert 'genie_nb' in page.inner_text('h1')
    page.wait_for_timeout(1000)
    assert page.errors == [] and page.outside == []


IMAGES_UNDER = """t => {
    const h = [...document.querySelectorAll('h2')].find(e => e.innerText.includes(t));
    const e = h.closest('section') || h.parentElement;
    return [...e.querySelectorAll('img.widget-image')].filter(i => i.naturalWidth > 0).length;
}"""
LOADED_IMAGES = """sel => [...document.querySelectorAll(sel)]
    .filter(i => i.complete && i.naturalWidth > 0).length"""


def test_tour_shows_its_widgets_from_saved_state(browser, site):
    page = open_page(browser, site, '20_tour.html')
    page.wait_for_selector('.widget-image', timeout=T)  # the HTML manager rendered the saved widgets
    page.wait_for_function(f'() => ({LOADED_IMAGES})(".widget-image") >= 3', timeout=T)
    for section in ('Watch synthesis', 'BN alignment', 'Explore bit widths'):
        # the first widget image after each section's heading: the gallery, the BN chart, the explorer chart
        n = page.evaluate(IMAGES_UNDER, section)
        assert n >= 1, f'no widget image under "{section}"'
    readouts = page.locator('.widget-slider .widget-readout')
    assert readouts.count() >= 1
    assert re.fullmatch(r'\d+', readouts.first.inner_text().strip())  # a saved bit width, e.g. 4
    SHOTS.mkdir(exist_ok=True)
    page.locator('.widget-image').nth(0).scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / 'docs_tour.png'))
    assert page.errors == [] and page.outside == []


def test_api_page_lists_quantize(browser, site):
    page = open_page(browser, site, 'api.html')
    assert page.locator('h3', has_text=re.compile(r'^quantize')).count() == 1


def test_search_finds_swing(browser, site):
    page = open_page(browser, site, 'search.html?q=swing')
    page.wait_for_selector('#search-results li', timeout=T)
    assert page.locator('#search-results li').count() >= 1
    assert page.outside == []
