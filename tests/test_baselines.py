"Each baseline does what its published code does and none silently falls back to another (tiny budgets)."

import pytest, torch, torch.nn as nn
from genie_nb.core import seed_everything
from genie_nb.models import ResNet20, load_bundled
from genie_nb.data import load_fmnist
from genie_nb.synth import (
    SynthConfig,
    synthesize,
    BNStatHooks,
    bn_targets,
    bn_stat_loss,
    zeroq_stat_loss,
    zeroq_init,
    frozen_teacher,
    _batch_seed,
)
from genie_nb.qmodel import QModel
from genie_nb.recon import QuantConfig, quantize, round_weight_for, arch_family, set_weight_ranges


@pytest.fixture(scope='module')
def model():
    "An untrained ResNet-20 whose BN running statistics come from real images."
    torch.manual_seed(0)
    m = ResNet20()
    x, _ = load_fmnist('test')
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.momentum = None
    with torch.no_grad():
        m.train()(x[:512])
    return m.eval()


@pytest.fixture(scope='module')
def mbv2():
    return load_bundled('mbv2')[0]


def _first_loss(model, x, per_image):
    t = frozen_teacher(model)
    with BNStatHooks(t, per_image=per_image) as h, torch.no_grad():
        t(x)
        return (zeroq_stat_loss if per_image else bn_stat_loss)(h.stats, bn_targets(model), x)[0].item()


# --- ZeroQ vs pixels ----------------------------------------------------------------------------------------


def test_zeroq_loss_is_per_image():
    "Two flat images (+1, −1) pool to the targets: Genie's batch loss ≈ 0, ZeroQ's per-image loss ≈ 2."
    bn = nn.Sequential(nn.BatchNorm2d(1)).eval()
    x = torch.cat([torch.ones(1, 1, 8, 8), -torch.ones(1, 1, 8, 8)])
    tg = bn_targets(bn)
    with BNStatHooks(bn) as hb, BNStatHooks(bn, per_image=True) as hi, torch.no_grad():
        bn(x)
    assert bn_stat_loss(hb.stats, tg)[0].item() < 1e-4
    assert zeroq_stat_loss(hi.stats, tg)[0].item() > 1.9


def test_zeroq_runs_its_published_recipe(model):
    "zeroq: 500 iterations by default, small uniform start, per-image loss recorded from the first step."
    assert SynthConfig.preset('cpu', method='zeroq').steps == 500
    cfg = SynthConfig(n=4, batch=4, steps=3, seed=5, method='zeroq')
    d = synthesize(model, cfg)
    seed_everything(_batch_seed(5, 0))
    x0 = zeroq_init(4, (1, 32, 32))
    assert x0.abs().max() < 0.024
    assert d.meta['stat_loss'] == 'per_image' and d.meta['swing'] is False
    assert d.meta['bn_loss'][0][0] == pytest.approx(_first_loss(model, x0, True), rel=1e-4)


def test_pixels_is_not_zeroq(model):
    "pixels: Genie's batch loss on pixels from N(0, 1); different images, loss and start from zeroq."
    cfg = SynthConfig(n=4, batch=4, steps=3, seed=5, method='pixels')
    d = synthesize(model, cfg)
    seed_everything(_batch_seed(5, 0))
    x0 = torch.randn(4, 1, 32, 32)
    assert d.meta['stat_loss'] == 'batch'
    assert d.meta['bn_loss'][0][0] == pytest.approx(_first_loss(model, x0, False), rel=1e-4)
    z = synthesize(model, SynthConfig(n=4, batch=4, steps=3, seed=5, method='zeroq'))
    assert not torch.allclose(d.images, z.images)
    assert SynthConfig.preset('cpu', method='pixels').steps == 200


def test_genie_ablation_switches_freeze_what_they_say(model):
    "latents-only keeps the generator at init, generator-only keeps the latents; both differ from Genie-D."
    base = SynthConfig(n=4, batch=4, steps=3, seed=2)
    full = synthesize(model, base).images
    lat = synthesize(model, SynthConfig(n=4, batch=4, steps=3, seed=2, learn_generator=False)).images
    gen = synthesize(model, SynthConfig(n=4, batch=4, steps=3, seed=2, learn_latents=False)).images
    assert not torch.allclose(full, lat) and not torch.allclose(full, gen) and not torch.allclose(lat, gen)


# --- BRECQ vs AdaRound --------------------------------------------------------------------------------------


def _events(model, method, x, iters=6):
    ev = []
    cfg = QuantConfig(
        w_bits=4, a_bits=4, method=method, iters=iters, init_ratios=10, device='cpu', log_every=1
    )
    qm = quantize(model, x, cfg, on_event=ev.append)
    return qm, ev


def test_brecq_learns_activation_steps_only_in_its_second_stage(model):
    x = torch.randn(64, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    qm, ev = _events(model, 'brecq', x)
    steps = [e for e in ev if e['kind'] == 'step']
    # stage 1: activations in FP, so no activation quantizer was ever initialised (scale still 1.0) or learned
    assert steps and all(s == 1.0 for e in steps for s in e['act_steps'])
    act = [e for e in ev if e['kind'] == 'act_unit_done']
    assert 0 < len(act) <= len([e for e in ev if e['kind'] == 'unit_done'])
    assert all(e['act_step_drift'] > 0 for e in act) and all(e['act_iters'] == 2 for e in act)
    assert [e['kind'] for e in ev].index('act_unit_done') > max(
        i for i, e in enumerate(ev) if e['kind'] == 'unit_done'
    )
    aqs = [q.aq for q in qm.qlayers().values() if q.aq is not None]
    assert aqs and all(bool(a.inited) for a in aqs)
    # adaround: activation steps searched before its weight stage and never changed, no second stage
    _, ev_a = _events(model, 'adaround', x)
    st_a = [e['act_steps'] for e in ev_a if e['kind'] == 'step']
    assert all(s != 1.0 for e in st_a for s in e) and not any(e['kind'] == 'act_unit_done' for e in ev_a)


# --- QDrop's rounding weight --------------------------------------------------------------------------------


def test_qdrop_picks_lambda_by_architecture(model, mbv2):
    assert arch_family(mbv2) == 'mobilenetv2' and arch_family(model) == 'other'
    assert round_weight_for(QuantConfig(method='qdrop'), mbv2) == 0.1
    assert round_weight_for(QuantConfig(method='qdrop'), model) == 0.01
    assert round_weight_for(QuantConfig(method='genie'), mbv2) == 1.0
    assert round_weight_for(QuantConfig(method='qdrop', round_weight=0.5), mbv2) == 0.5
    x = torch.randn(32, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    qm = quantize(
        mbv2, x, QuantConfig(w_bits=4, a_bits=4, method='qdrop', iters=1, init_ratios=5, device='cpu')
    )
    assert qm.meta['round_weight'] == 0.1


# --- weight ranges ------------------------------------------------------------------------------------------


def test_minmax_weight_range_differs_only_on_one_sign_channels(mbv2):
    qm = QModel(mbv2, n_ratios=20)
    before = {n: q.wq.s0.flatten().clone() for n, q in qm.qlayers().items() if q.wq is not None}
    set_weight_ranges(qm, 'minmax', 20)
    changed = one_sign = 0
    for n, q in qm.qlayers().items():
        if q.wq is None:
            continue
        w = q.op.weight.reshape(len(q.op.weight), -1)
        same = (w.min(1).values >= 0) | (w.max(1).values <= 0)
        diff = ~torch.isclose(before[n], q.wq.s0.flatten())
        assert not (diff & ~same).any(), n  # channels with both signs are untouched
        changed, one_sign = changed + int(diff.sum()), one_sign + int(same.sum())
    assert 0 < changed <= one_sign


# --- the command line takes its choices from the method tables ----------------------------------------------


def test_cli_choices_come_from_the_method_tables():
    from genie_nb.cli import build_parser
    from genie_nb.recon import METHODS as PTQ
    from genie_nb.synth import METHODS as SYN

    ap = build_parser()
    a = ap.parse_args(['quantize', '--method', 'brecq', '--round-weight', '0.3', '--data', 'pixels'])
    assert (a.method, a.round_weight, a.data, a.weight_range) == ('brecq', 0.3, 'pixels', 'zero')
    assert ap.parse_args(['quantize']).round_weight is None
    for m in PTQ:
        assert ap.parse_args(['quantize', '--method', m]).method == m
    for m in SYN:
        assert ap.parse_args(['synth', '--method', m]).method == m
