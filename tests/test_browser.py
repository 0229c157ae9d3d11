"""A real browser: JupyterLab in Debian's Chromium (through Playwright) runs a notebook with a
QuantErrorExplorer, moves the weight-bit slider from 8 to 2 by keyboard, and sees the per-layer chart and the
accuracy line change; and a notebook with a BudgetExplorer, whose budget slider moved from 4 to 2 bits by
keyboard redraws the chosen widths and changes the predicted and measured top-1."""

import json, os, re, shutil, socket, subprocess, sys, time, secrets, urllib.request
from contextlib import contextmanager
from pathlib import Path
import pytest

CHROMIUM = os.environ.get('GENIE_NB_CHROMIUM', shutil.which('chromium') or '/usr/bin/chromium')
ARGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
]
T = int(
    float(os.environ.get('GENIE_NB_BROWSER_TIMEOUT_S', 300)) * 1000
)  # per wait; generous for a busy 2-core machine
pw = pytest.importorskip('playwright.sync_api')
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f'no Chromium at {CHROMIUM} (apt-get install chromium)'
)

CELLS = [
    "import os; os.environ.setdefault('GENIE_NB_THREADS', '1')\n"
    "import ipywidgets as W\n"
    "from genie_nb.core import GenieError\n"
    "from genie_nb.models import load_bundled, ResNet20\n"
    "from genie_nb.data import load_fmnist\n"
    "from genie_nb.widgets import QuantErrorExplorer\n"
    "try: model, _ = load_bundled('default')\n"
    "except GenieError: model = ResNet20().eval()\n"
    "xt, yt = load_fmnist('test')\n"
    "ex = QuantErrorExplorer(model, xt[-64:], (xt[:256], yt[:256]))\n"
    "ex",
    "log = W.Output()\n"
    "say = lambda ch: log.append_stdout(f'ACCURACY W{ex.w.value}: {ex.top1:.2f} %\\n')\n"
    "ex.w.observe(say, names='value')\n"
    "print(f'ACCURACY W{ex.w.value}: {ex.top1:.2f} %')\n"
    "log",
]


def _notebook(path: Path, cells=CELLS):
    cells = [
        dict(cell_type='code', id=f'cell{i}', metadata={}, source=c, outputs=[], execution_count=None)
        for i, c in enumerate(cells)
    ]
    nb = dict(
        cells=cells,
        nbformat=4,
        nbformat_minor=5,
        metadata=dict(
            kernelspec=dict(name='python3', display_name='Python 3 (ipykernel)', language='python')
        ),
    )
    path.write_text(json.dumps(nb))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _wait_http(url, proc, timeout=T / 1000):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f'JupyterLab exited with {proc.returncode}')
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except Exception:
            time.sleep(0.5)
    raise TimeoutError(f'JupyterLab did not answer at {url} within {timeout} s')


IDLE = """() => !!document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]') &&
    /\\|\\s*Idle/.test(document.body.innerText)"""  # status bar: "Python 3 (ipykernel) | Idle"


def _kernel_idle(page, timeout=None):
    "Wait until the kernel is connected and idle (toolbar indicator and status bar both say so)."
    page.wait_for_function(IDLE, timeout=timeout or T)


def _accept_dialogs(page):
    "Accept a dialog in the way (JupyterLab may ask which kernel to start while its kernel list still loads)."
    for btn in page.locator('.jp-Dialog .jp-mod-accept').all():
        btn.click()


def _run_all(page):
    _accept_dialogs(page)
    page.locator('.lm-MenuBar-itemLabel', has_text=re.compile(r'^Run$')).click()
    page.locator('.lm-Menu-itemLabel', has_text=re.compile(r'^Run All Cells$')).click()


PROMPT_USED = r"/\[(\*|\d+)\]/.test(e.innerText)"  # a prompt reads "[*]:" or "[1]:", not "[ ]:"
STARTED = f"() => [...document.querySelectorAll('.jp-InputArea-prompt')].some(e => {PROMPT_USED})"
FINISHED_OR_DROPPED = """() => document.body.innerText.includes(%s) ||
    [...document.querySelectorAll('.jp-InputArea-prompt')].every(e => !(%s))"""


def _finished_or_dropped(marker: str) -> str:
    "JS: the run finished (`marker` is printed), or it was dropped (every prompt empty again)."
    return FINISHED_OR_DROPPED % (json.dumps(marker), PROMPT_USED)


def _chart_src(page):
    return page.locator('img.widget-image').first.get_attribute('src')


@contextmanager
def _jupyterlab_page(tmp_path: Path, name: str, cells: list):
    "JupyterLab on a new notebook `name` of `cells`, open in Chromium: yields the page when the kernel idles."
    home = tmp_path / 'home'
    work = tmp_path / 'work'
    for d in ('config', 'data', 'runtime', 'ipython', 'mpl'):
        (home / d).mkdir(parents=True)
    work.mkdir()
    _notebook(work / f'{name}.ipynb', cells)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / 'config'),
        JUPYTER_DATA_DIR=str(home / 'data'),
        JUPYTER_RUNTIME_DIR=str(home / 'runtime'),
        IPYTHONDIR=str(home / 'ipython'),
        MPLCONFIGDIR=str(home / 'mpl'),
        GENIE_NB_THREADS=os.environ.get('GENIE_NB_THREADS', '1'),
        JUPYTER_PLATFORM_DIRS='1',
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp_path / 'jupyterlab.log', 'w')
    proc = subprocess.Popen(
        [
            sys.executable,
            '-m',
            'jupyterlab',
            '--allow-root',
            '--no-browser',
            '--ip=127.0.0.1',
            f'--port={port}',
            f'--ServerApp.token={token}',
            '--ServerApp.port_retries=0',
            f'--ServerApp.root_dir={work}',
            '--LabApp.news_url=',
            '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_http(f'http://127.0.0.1:{port}/api/status?token={token}', proc)
        with pw.sync_playwright() as p:
            browser, page = p.chromium.launch(executable_path=CHROMIUM, args=ARGS), None
            try:
                page = browser.new_page(viewport=dict(width=1400, height=1000))
                page.goto(f'http://127.0.0.1:{port}/lab/tree/{name}.ipynb?token={token}', timeout=T)
                page.wait_for_selector('.jp-Notebook', timeout=T)
                page.wait_for_timeout(2000)
                _accept_dialogs(page)
                _kernel_idle(page)
                yield page
            except Exception:
                if page is not None:
                    page.screenshot(path=str(tmp_path / 'failure.png'), full_page=True)
                raise
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _run_all_until(page, marker: str):
    "Run All Cells until `marker` is printed; retry once if nothing ran (or a kernel swap dropped the run)."
    for attempt in range(2):
        _run_all(page)
        try:
            page.wait_for_function(STARTED, timeout=30_000)
            page.wait_for_function(_finished_or_dropped(marker), timeout=T)
        except pw.TimeoutError:
            if attempt:
                raise
        if page.get_by_text(marker).count():
            break
        assert attempt == 0, 'Run All Cells ran nothing, twice'
        page.wait_for_timeout(3000)
        _kernel_idle(page)
    _kernel_idle(page)


def _slider_home(page, label: str, lowest: float, arrow_presses: int):
    "Move the slider labelled `label` to its minimum by keyboard: Home, or ArrowLeft presses if Home fails."
    handle = page.locator('.widget-slider', has_text=label).locator('.noUi-handle').first
    handle.focus()
    page.keyboard.press('Home')
    if float(handle.get_attribute('aria-valuenow') or 'nan') != lowest:
        for _ in range(arrow_presses):
            page.keyboard.press('ArrowLeft')


HTML_HAS = "() => [...document.querySelectorAll('.widget-html-content')].some(e => e.innerText.includes(%s))"


def _wait_html(page, text: str):
    "Wait until an HTML widget shows `text`."
    page.wait_for_function(HTML_HAS % json.dumps(text), timeout=T)


def _html_text(page, text: str) -> str:
    "The text of the first HTML widget that contains `text`."
    return page.locator('.widget-html-content', has_text=text).first.inner_text()


def test_slider_in_jupyterlab(tmp_path):
    t0 = time.time()
    with _jupyterlab_page(tmp_path, 'explorer', CELLS) as page:
        _run_all_until(page, 'ACCURACY W8')
        src8 = _chart_src(page)
        acc8 = _html_text(page, 'top-1 on')
        assert src8 and 'W8A8' in acc8
        t_move = time.time()
        _slider_home(page, 'weight bits', 2, 6)  # 8 → 2 (the slider's minimum)
        page.wait_for_selector('text=ACCURACY W2', timeout=T)
        _wait_html(page, 'W2A8')
        response_s = time.time() - t_move
        assert _chart_src(page) != src8
        acc2 = _html_text(page, 'top-1 on')
        assert acc2 != acc8 and 'W2A8' in acc2
        page.screenshot(path=str(tmp_path / 'explorer.png'), full_page=True)
        whole_s = time.time() - t0
        print(f'slider 8→2 answered in {response_s:.1f} s; whole test {whole_s:.1f} s; {acc8!r} → {acc2!r}')


BUDGET_CELLS = [
    "import os; os.environ.setdefault('GENIE_NB_THREADS', '1')\n"
    "import torch, ipywidgets as W\n"
    "from genie_nb.core import GenieError\n"
    "from genie_nb.models import load_bundled, ResNet20\n"
    "from genie_nb.data import load_fmnist\n"
    "from genie_nb.widgets import BudgetExplorer\n"
    "try: model, _ = load_bundled('default')\n"
    "except GenieError: model = ResNet20().eval()\n"
    "held = torch.randn(64, 1, 32, 32, generator=torch.Generator().manual_seed(0))  # synthetic: N(0, 1)\n"
    "xt, yt = load_fmnist('test')\n"
    "bx = BudgetExplorer(model, held, (xt[:256], yt[:256]), candidates=(2, 4, 8), budget=4.0)\n"
    "bx",
    "log = W.Output()\n"
    "free_widths = lambda: sorted({w for w, _ in bx.policy.overrides.values()})\n"
    "line = lambda: f'BUDGET {bx.budget.value}: free-layer widths {free_widths()}'\n"
    "bx.budget.observe(lambda ch: log.append_stdout(line() + '\\n'), names='value')\n"
    "print(line())\n"
    "log",
]
PREDICTED = re.compile(r'predicted top-1 ([\d.]+) %, measured ([\d.]+) %')


def test_budget_slider_in_jupyterlab(tmp_path):
    t0 = time.time()
    with _jupyterlab_page(tmp_path, 'budget', BUDGET_CELLS) as page:
        _run_all_until(page, 'BUDGET 4.0')
        widths4, info4 = _chart_src(page), _html_text(page, 'predicted top-1')
        line4 = page.locator('.jp-OutputArea-output', has_text='BUDGET 4.0').first.inner_text()
        assert 'free-layer widths [2]' not in line4, line4
        assert widths4 and PREDICTED.search(info4), info4
        t_move = time.time()
        _slider_home(page, 'avg W bits', 2.0, 16)  # 4 → 2 bits (the slider's minimum, steps of 1/8)
        page.wait_for_selector('text=BUDGET 2.0', timeout=T)
        _wait_html(page, '2.000 bits')
        response_s = time.time() - t_move
        info2 = _html_text(page, 'predicted top-1')
        assert _chart_src(page) != widths4  # the chosen widths per layer are drawn again
        assert PREDICTED.search(info2).groups() != PREDICTED.search(info4).groups(), (info4, info2)
        assert page.get_by_text('BUDGET 2.0: free-layer widths [2]').count()  # every free layer at 2 bits
        page.screenshot(path=str(tmp_path / 'budget.png'), full_page=True)
        whole_s = time.time() - t0
        print(f'budget 4→2 answered in {response_s:.1f} s; whole test {whole_s:.1f} s; {info4!r} → {info2!r}')
