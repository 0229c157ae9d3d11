"""The library's layers: widgets are the top layer, so no module below them imports ipywidgets, and the CLI's
`quantize --w-budget` (which uses genie_nb.mixed) runs without it."""

import subprocess, sys
import pytest

BELOW_WIDGETS = ('mixed', 'export', 'dist', 'recon', 'evaluate', 'qmodel', 'synth')


def imports_ipywidgets(code: str) -> bool:
    "Run `code` in a fresh interpreter; did it import ipywidgets? (The code must succeed.)"
    probe = f"{code}\nimport sys\nprint('ipywidgets' in sys.modules)"
    r = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip().splitlines()[-1] == 'True'


@pytest.mark.parametrize('module', BELOW_WIDGETS)
def test_module_below_widgets_does_not_import_ipywidgets(module):
    assert not imports_ipywidgets(f'import genie_nb.{module}')


def test_widgets_do_import_ipywidgets():
    assert imports_ipywidgets('import genie_nb.widgets')  # the probe can see an import when there is one


def test_cli_w_budget_does_not_import_ipywidgets(tmp_path):
    args = ['quantize', '--data', 'gaussian', '--n', '32', '--iters', '1']
    args += ['--w-budget', '3', '--w-candidates', '2,4', '--limit', '100']
    args += ['--out', str(tmp_path / 'q.qpt'), '--json']
    code = f"from genie_nb.cli import main\nassert main({args!r}) == 0"
    assert not imports_ipywidgets(code)
