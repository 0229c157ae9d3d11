"""Mixed precision: the exact solver against brute force, budgets met, bad budgets refused,
reconstruction with the chosen widths, the CLI's --w-budget, and the budget slider (headless)."""

import json, subprocess, sys
import numpy as np
import pytest, torch
from genie_nb.core import GenieError
from genie_nb.models import ResNet20
from genie_nb.qmodel import BitPolicy, QModel
from genie_nb.recon import QuantConfig, quantize
from genie_nb.widgets import BudgetExplorer
from genie_nb.mixed import (
    solve_widths,
    brute_force_widths,
    budget_plan,
    budget_policy,
    sensitivity_table,
    weight_storage,
    check_budget,
    check_candidates,
    budget_layers,
)

PNG = b'\x89PNG'


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    m = ResNet20().eval()
    with torch.no_grad():  # non-trivial BN statistics, as in the widget tests
        for b in m.modules():
            if isinstance(b, torch.nn.BatchNorm2d):
                b.running_mean.normal_(0, 0.3)
                b.running_var.uniform_(0.5, 2)
    return m


@pytest.fixture(scope='module')
def images():
    return torch.randn(32, 1, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope='module')
def sens(model, images):
    return sensitivity_table(model, images, (2, 3, 4, 8))


def test_solver_exact_against_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(60):
        n = int(rng.integers(1, 6))
        widths = tuple(sorted(rng.choice([2, 3, 4, 5, 6, 8], size=int(rng.integers(1, 5)), replace=False)))
        sizes = {f'l{i}': int(rng.choice([9, 16, 27, 144, 576])) for i in range(n)}
        costs = {k: {int(w): float(rng.normal()) for w in widths} for k in sizes}  # any costs, negative too
        capacity = int(rng.uniform(1.5, 8.5) * sum(sizes.values()))
        got, ref = solve_widths(costs, sizes, capacity), brute_force_widths(costs, sizes, capacity)
        assert (got is None) == (ref is None)
        if got is not None:
            assert sum(w * sizes[k] for k, w in got.items()) <= capacity
            assert abs(sum(costs[k][w] for k, w in got.items()) - ref[0]) < 1e-9


def test_budget_met_and_policy_shape(model, sens):
    names = list(weight_storage(model, BitPolicy())['widths'])
    for budget in (2.0, 2.5, 3.0, 3.7, 8.0):
        pol = budget_policy(model, sens, budget, 4)
        st = weight_storage(model, pol)
        assert st['avg_bits'] <= budget + 1e-12
        assert st['widths'][names[0]] == 8 and st['widths'][names[-1]] == 8
        assert set(st['widths'][n] for n in budget_layers(names)) <= {2, 3, 4, 8}
    assert set(weight_storage(model, budget_policy(model, sens, 2.0, 4))['widths'].values()) == {2, 8}
    kl = sens.set_index(['layer', 'w_bits']).kl
    tight, loose = (
        sum(kl[(n, wa[0])] for n, wa in budget_policy(model, sens, b, 4).overrides.items())
        for b in (2.5, 3.5)
    )
    assert loose <= tight  # more bits never cost more sensitivity


def test_bad_budgets(model, sens):
    with pytest.raises(GenieError, match='1.9 bits is outside the candidate widths 2..8'):
        budget_policy(model, sens, 1.9, 4)
    with pytest.raises(GenieError, match='8.5 bits is outside'):
        check_budget(8.5, (2, 3, 4, 8))
    with pytest.raises(GenieError, match='empty'):
        check_candidates([])
    names = budget_layers(list(weight_storage(model, BitPolicy())['widths']))
    big = max(names, key=lambda n: model.get_submodule(n).weight.numel())
    with pytest.raises(GenieError, match=r'pinned layers .* take \d+ of the \d+ bits'):
        budget_plan(model, 2.1, (2, 3, 4, 8), BitPolicy(overrides={big: (8, 4)}))
    with pytest.raises(GenieError, match='unknown sensitivity proxy'):
        budget_policy(model, sens, 3.0, 4, proxy='nope')


def test_reconstruction_uses_the_chosen_widths(model, images, sens):
    pol = budget_policy(model, sens, 2.5, 4)
    widths = weight_storage(model, pol)['widths']
    qm = quantize(
        model, images, QuantConfig(policy=pol, iters=2, recon_batch=16, init_ratios=10, eval_samples=16)
    )
    for n, layer in qm.qlayers().items():
        assert layer.wq.qmax == 2 ** widths[n] - 1 and int(layer.wq.codes.max()) <= layer.wq.qmax


def run_cli(*args):
    return subprocess.run(
        [sys.executable, '-c', 'from genie_nb.cli import cli; cli()', *map(str, args)],
        capture_output=True,
        text=True,
    )


def test_cli_w_budget(tmp_path):
    r = run_cli(
        'quantize',
        '--data',
        'gaussian',
        '--n',
        32,
        '--iters',
        1,
        '--w-budget',
        2.5,
        '--w-candidates',
        '2,4',
        '--limit',
        200,
        '--out',
        tmp_path / 'q.qpt',
        '--json',
    )
    assert r.returncode == 0, r.stderr[-2000:]
    j = json.loads(r.stdout.strip().splitlines()[-1])
    assert j['w_budget'] == 2.5 and j['avg_w_bits'] <= 2.5 and set(j['widths'].values()) <= {2, 4, 8}
    assert j['weight_kib'] > 0 and 'overrides' in j['policy']
    assert j['w_bits'] is None  # the uniform default is not what was used: `widths` and `policy` are
    for bad, msg in (
        (['--w-budget', 1], '1.0 bits is outside the candidate widths 2..8'),
        (['--w-budget', 3, '--w-candidates', 'x'], 'integers separated by commas'),
    ):
        r = run_cli('quantize', '--data', 'gaussian', *bad)
        assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_budget_explorer_headless(model):
    g = torch.Generator().manual_seed(2)
    held, xt, yt = (
        torch.randn(64, 1, 32, 32, generator=g),
        torch.randn(200, 1, 32, 32, generator=g),
        torch.randint(0, 10, (200,), generator=g),
    )
    bx = BudgetExplorer(model, held, (xt, yt), candidates=(2, 4, 8), budget=4.0)
    assert bx.chart.value[:4] == PNG and 'measured' in bx.info.value
    png, info = bx.chart.value, bx.info.value
    bx.budget.value = 2.5
    assert bx.chart.value != png and bx.info.value != info and bx.storage['avg_bits'] <= 2.5
    assert bx.explorer.overrides == bx.policy.overrides and bx.widget().children
