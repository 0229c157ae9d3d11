"Headless widget tests: each widget builds, reacts to a value change, and its output (PNG bytes / HTML) changes."

import torch, pytest
import ipywidgets as W
from genie_nb.models import ResNet20
from genie_nb.qmodel import QModel
from genie_nb.synth import SynthConfig, SyntheticData
from genie_nb.recon import QuantConfig
from genie_nb.widgets import image_grid, QuantErrorExplorer, SynthViewer, BNAlignment, ReconDashboard

PNG = b'\x89PNG'


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    m = ResNet20().eval()
    with torch.no_grad():  # non-trivial BN statistics so the views have something to show
        for b in m.modules():
            if isinstance(b, torch.nn.BatchNorm2d):
                b.running_mean.normal_(0, 0.3)
                b.running_var.uniform_(0.5, 2)
    return m


@pytest.fixture(scope='module')
def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(200, 1, 32, 32, generator=g), torch.randint(0, 10, (200,), generator=g)


def test_image_grid():
    a, b = image_grid(torch.randn(4, 1, 32, 32), list('abcd')), image_grid(torch.randn(4, 3, 32, 32))
    assert a[:4] == PNG and b[:4] == PNG and a != b


def test_quant_error_explorer(model, data):
    x, y = data
    ex = QuantErrorExplorer(model, x[:64], (x, y))
    assert isinstance(ex.widget(), W.VBox) and ex.chart.value[:4] == PNG and 'top-1' in ex.acc.value
    png, acc = ex.chart.value, ex.acc.value
    ex.w.value = 2  # a slider move redraws
    assert ex.chart.value != png and ex.acc.value != acc and 'W2A8' in ex.acc.value
    assert set(ex.report.w_bits) - {8} == {2}
    png = ex.chart.value
    ex.layer.value = ex.bank.names[3]
    ex.lw.value, ex.la.value = 8, 8
    ex.set_btn.click()
    assert ex.chart.value != png and ex.overrides == {ex.bank.names[3]: (8, 8)}
    ex.clear_btn.click()
    assert ex.overrides == {}


def test_quant_error_explorer_reference(model, data):
    x, y = data
    ref = QModel(model).eval()
    with torch.no_grad():
        ref(x[:64])
    ex = QuantErrorExplorer(model, x[:64], reference=ref)
    assert ex.chart.value[:4] == PNG and ex.acc.value == ''  # no test slice: no accuracy line


def test_synth_viewer_events(model):
    sv = SynthViewer(
        model, SynthConfig(n=8, batch=8, steps=4), every=2, max_overhead=1, classes=list('abcdefghij')
    )
    assert sv.cfg.image_every == 2 and isinstance(sv.widget(), W.VBox)
    sv.on_event(dict(kind='start', method='genie', batches=1, resumed_batches=0, steps=4))
    assert sv.bar.max == 4
    for step in range(4):
        ev = dict(kind='step', batch=0, step=step, steps=4, loss=1.0 / (step + 1))
        if step % 2 == 0:
            ev['images'] = torch.randn(8, 1, 32, 32)
        assert sv.on_event(ev) is None
        if step == 0:
            png = sv.grid.value
    assert sv.refreshes == 2 and sv.grid.value != png and sv.bar.value == 4 and 'step 2' in sv.status.value
    sv.stop_btn.click()
    assert sv.on_event(dict(kind='step', batch=0, step=4, steps=4, loss=0.1)) == 'stop'


def test_synth_viewer_throttles(model):
    sv = SynthViewer(model, SynthConfig(n=8, batch=8, steps=4), every=1, max_overhead=0.0)
    sv.on_event(dict(kind='start', method='genie', batches=1, resumed_batches=0, steps=4))
    for step in range(4):
        sv.on_event(
            dict(kind='step', batch=0, step=step, steps=4, loss=1.0, images=torch.randn(8, 1, 32, 32))
        )
    assert sv.refreshes == 1  # only the first refresh is free


def test_synth_viewer_run(model):
    sv = SynthViewer(model, SynthConfig(n=8, batch=4, steps=3, gen_width=8), every=1, max_overhead=1)
    sv.start()
    sv.thread.join(60)
    assert (
        len(sv.result) == 8
        and sv.grid.value[:4] == PNG
        and sv.curve.value[:4] == PNG
        and sv.status.value.startswith('done')
    )


def test_bn_alignment(model, data):
    x, _ = data
    bna = BNAlignment(
        model,
        {
            'real': x[:32],
            'gaussian': torch.randn(32, 1, 32, 32),
            'synthetic': SyntheticData(x[32:64] * 2, {}),
        },
    )
    assert set(bna.mismatch) == {'real', 'gaussian', 'synthetic'} and bna.summary.value[:4] == PNG
    png = bna.detail.value
    bna.layer.value = bna.layer.options[-1]
    assert bna.detail.value != png
    assert isinstance(bna.widget(), W.VBox)


def _step(unit, t, n=4):
    return dict(
        kind='step',
        unit=unit,
        step=t,
        iters=n,
        rec_loss=1.0 / (t + 1) / (2 if unit == 'b' else 1),
        round_loss=0.1 * t,
        beta=20 - 4 * t,
        hist=[10 - t, 1, 1, 1, 1, 1, 1, 1, 1, 10 + t],
        undecided=0.5 - 0.1 * t,
        step_drift=0.01 * t,
        act_steps=[0.1 + 0.01 * t, 0.2],
    )


def test_recon_dashboard_events(model, data):
    rd = ReconDashboard(model, data[0][:64], QuantConfig(iters=4), max_overhead=1)
    assert isinstance(rd.widget(), W.VBox)
    rd.on_event(dict(kind='start', units=['a', 'b'], method='genie', resumed=[]))
    assert rd.bar.max == 2
    for i, u in enumerate('ab'):
        rd.on_event(dict(kind='unit_start', unit=u, index=i, n_units=2, unit_type='BasicBlock'))
        assert rd.unit.value == u
        for t in range(4):
            rd.on_event(_step(u, t))
            if t == 0:
                png = rd.curves.value
        assert rd.curves.value != png
        rd.on_event(
            dict(
                kind='unit_done',
                unit=u,
                index=i,
                n_units=2,
                cache_seconds=0.1,
                seconds=1.0,
                rtn_loss=1.0,
                loss=0.5,
                step_seconds=0.01,
            )
        )
    assert rd.bar.value == 2 and rd.summary.value[:4] == PNG
    assert rd.units['a']['act0'] == pytest.approx([0.1, 0.2]) and rd.units['a']['act'] == pytest.approx(
        [0.13, 0.2]
    )
    png = rd.curves.value
    rd.unit.value = 'a'
    assert rd.curves.value != png  # the dropdown picks a unit
    rd.stop_btn.click()
    assert rd.on_event(_step('b', 4)) == 'stop'


def test_recon_dashboard_stop(model, data):
    rd = ReconDashboard(model, data[0][:64], QuantConfig(iters=2, init_ratios=5))
    rd.stop()
    assert rd.start().wait(120) is None and 'stopped' in rd.status.value and rd.error is None
