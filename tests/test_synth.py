"Genie-D synthesis and the other data sources: determinism, artifacts, resume, events, bad input (tiny budgets)."

import math
from dataclasses import replace
import pytest, torch, torch.nn as nn
from genie_nb.core import GenieError, model_fingerprint
from genie_nb.models import ResNet20, bn_layers
from genie_nb.data import load_fmnist
from genie_nb.synth import *
from genie_nb.bench.speed import bench_synth

TINY = SynthConfig(n=6, batch=4, steps=4, seed=3)


@pytest.fixture(scope='module')
def model():
    "An untrained ResNet-20 whose BN running statistics come from real images: fast and has meaningful targets."
    torch.manual_seed(0)
    m = ResNet20()
    x, _ = load_fmnist('test')
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.momentum = None
    with torch.no_grad():
        m.train()(x[:512])
    return m.eval()


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


# --- the loss and its parts -----------------------------------------------------------------------------------------


def test_bn_stat_loss_matches_reference_formula(model):
    x = torch.randn(8, 1, 32, 32)
    with BNStatHooks(model) as h, torch.no_grad():
        model(x)
    tg = bn_targets(model)
    loss, per = bn_stat_loss(h.stats, tg, x)
    acts = {}
    hs = [
        bn.register_forward_hook(lambda m, i, o, n=n: acts.__setitem__(n, i[0])) for n, bn in bn_layers(model)
    ]
    with torch.no_grad():
        model(x)
    for hd in hs:
        hd.remove()
    ref = 0.0
    for n, bn in bn_layers(model):
        a = acts[n]
        mu, sd = a.mean((0, 2, 3)), a.permute(1, 0, 2, 3).flatten(1).std(1)  # unbiased
        ref += ((bn.running_mean - mu).norm() ** 2 + ((bn.running_var + 1e-6).sqrt() - sd).norm() ** 2) / len(
            mu
        )
    xm, xs = x.mean((2, 3)), x.flatten(2).std(2)
    ref += (xm.norm() ** 2 + (1 - xs).norm() ** 2) / len(x)
    assert torch.allclose(loss, ref, rtol=1e-4) and len(per) == len(bn_layers(model)) + 1


def test_hooks_removed_even_on_error(model):
    with pytest.raises(RuntimeError):
        with BNStatHooks(model):
            model(torch.randn(2, 3, 32, 32))
    assert all(len(bn._forward_hooks) == 0 for _, bn in bn_layers(model))


def test_swing_conv_copy_only_seeded_and_one_offset_per_forward(model):
    t = frozen_teacher(model)
    names = add_swing(t, torch.Generator().manual_seed(0))
    assert len(names) == 4 and not any(isinstance(m, SwingConv) for m in model.modules())
    assert all(not p.requires_grad for p in t.parameters()) and not t.training
    x = torch.randn(2, 1, 32, 32)
    outs = lambda: [t(x) for _ in range(3)]
    t_gen = [m for m in t.modules() if isinstance(m, SwingConv)][0].gen
    t_gen.manual_seed(5)
    a = outs()
    t_gen.manual_seed(5)
    b = outs()
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    sc = SwingConv(nn.Identity(), torch.Generator().manual_seed(1))
    y = sc(torch.arange(16.0).view(1, 1, 4, 4).repeat(3, 1, 1, 1))
    assert torch.equal(y[0], y[1]) and torch.equal(y[1], y[2])  # one offset for the whole batch


def test_generator_follows_input_shape():
    for shape in [(1, 32, 32), (3, 30, 27), (2, 8, 8)]:
        g = GenieGenerator(shape, latent_dim=16, width=8).train()
        assert g(torch.randn(3, 16)).shape == (3, *shape)


# --- synthesize ------------------------------------------------------------------------------------------------------


def test_same_seed_identical_images_and_other_seed_differs(model):
    a, b, c = synthesize(model, TINY), synthesize(model, TINY), synthesize(model, replace(TINY, seed=4))
    assert (
        a.images.shape == (6, 1, 32, 32)
        and torch.equal(a.images, b.images)
        and not torch.equal(a.images, c.images)
    )
    assert [len(h) for h in a.meta['bn_loss']] == [4, 4]  # two batches: 4 + 2 images (nothing dropped)


def test_bn_loss_falls_for_genie(model):
    d = synthesize(model, SynthConfig(n=8, batch=8, steps=30, seed=0))
    h = d.meta['bn_loss'][0]
    assert h[-1] < 0.3 * h[0] and d.meta['bn_loss_last'] == h[-1] and d.meta['s_per_step'] > 0


def test_user_model_unchanged(model):
    before, fp = _state(model), model_fingerprint(model)
    for m in ('genie', 'zeroq'):
        synthesize(model, replace(TINY, method=m))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and model_fingerprint(model) == fp
    assert not model.training and all(p.requires_grad for p in model.parameters())
    assert not any(isinstance(m, SwingConv) for m in model.modules())
    assert all(len(bn._forward_hooks) == 0 for _, bn in bn_layers(model))


@pytest.mark.parametrize('method', ['zeroq', 'pixels', 'gaussian', 'real'])
def test_other_sources_same_interface(model, method):
    d = synthesize(model, replace(TINY, method=method))
    assert d.images.shape == (6, 1, 32, 32) and d.meta['method'] == method and d.complete
    assert d.meta['swing'] is False and math.isfinite(d.meta['bn_loss_last'])
    if method == 'real':
        x, _ = load_fmnist('train')
        assert any(torch.equal(d.images[0], x[i]) for i in range(len(x)))
        assert torch.equal(d.images, synthesize(model, replace(TINY, method=method)).images)


def test_events_and_images_every_k(model):
    evs = []
    synthesize(model, replace(TINY, image_every=2), on_event=evs.append)
    kinds = [e['kind'] for e in evs]
    assert (
        kinds[0] == 'start'
        and kinds[-1] == 'done'
        and kinds.count('batch_done') == 2
        and kinds.count('step') == 8
    )
    st = [e for e in evs if e['kind'] == 'step']
    assert [('images' in e) for e in st[:4]] == [True, False, True, True]  # steps 0, 2 and the last
    assert (
        st[0]['images'].shape == (4, 1, 32, 32)
        and 'layer1.0.bn1' in st[0]['layers']
        and 'input' in st[0]['layers']
    )


def test_tqdm_subscriber_runs(model):
    synthesize(model, TINY, on_event=tqdm_subscriber(disable=True))


# --- artifacts and resume --------------------------------------------------------------------------------------------


def test_save_load_round_trip_plain_types(model, tmp_path):
    d = synthesize(model, TINY)
    p = d.save(tmp_path / 'd.pt')
    raw = torch.load(p, weights_only=True)
    assert torch.equal(raw['images'], d.images)
    e = SyntheticData.load(p, model=model)
    assert (
        torch.equal(e.images, d.images)
        and e.meta == d.meta
        and e.meta['model_fingerprint'] == model_fingerprint(model)
    )
    for k in (
        'method',
        'n',
        'batch',
        'steps',
        'seed',
        'lr_latent',
        'lr_generator',
        'gen_width',
        'seconds',
        'bn_loss',
    ):
        assert k in e.meta
    assert not list(tmp_path.glob('.*.tmp'))


def test_resume_after_interrupt(model, tmp_path):
    cfg = SynthConfig(n=10, batch=4, steps=3, seed=7)
    ref = synthesize(model, cfg)

    def ctrl_c(ev):
        if ev['kind'] == 'step' and ev['batch'] == 1 and ev['step'] == 1:
            raise KeyboardInterrupt

    part = synthesize(model, cfg, on_event=ctrl_c, out=tmp_path / 'r.pt')
    assert len(part) == 4 and not part.complete and part.meta['stopped'] == 'interrupted'
    assert len(SyntheticData.load(tmp_path / 'r.pt')) == 4
    evs = []
    full = synthesize(model, cfg, on_event=evs.append, out=tmp_path / 'r.pt')
    assert evs[0]['resumed_batches'] == 1 and sum(e['kind'] == 'batch_done' for e in evs) == 2
    assert full.complete and torch.equal(full.images, ref.images) and len(full.meta['bn_loss']) == 3
    stop = synthesize(
        model,
        replace(cfg, seed=8),
        on_event=lambda e: 'stop' if e['kind'] == 'batch_done' else None,
        out=tmp_path / 's.pt',
    )
    assert len(stop) == 4 and stop.meta['stopped'] == 'stop requested'


def test_resume_with_other_settings_refused(model, tmp_path):
    synthesize(model, TINY, out=tmp_path / 'r.pt')
    with pytest.raises(GenieError, match='different settings.*steps'):
        synthesize(model, replace(TINY, steps=5), out=tmp_path / 'r.pt')


# --- bad input -------------------------------------------------------------------------------------------------------


def test_model_without_batchnorm(model):
    with pytest.raises(GenieError, match='no BatchNorm2d'):
        synthesize(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.LazyLinear(10)), TINY)


def test_input_shape_the_model_rejects(model):
    with pytest.raises(GenieError, match=r'rejects input shape \(3, 32, 32\)'):
        synthesize(model, replace(TINY, input_shape=(3, 32, 32)))
    with pytest.raises(GenieError, match='input shape'):
        synthesize(model, replace(TINY, input_shape=(1, 32)))


@pytest.mark.parametrize(
    'bad', [dict(n=0), dict(n=-3), dict(steps=0), dict(steps=-1), dict(batch=0), dict(method='gan')]
)
def test_bad_config(bad):
    with pytest.raises(GenieError, match=list(bad)[0]):
        SynthConfig(**bad)
    with pytest.raises(GenieError, match='preset'):
        SynthConfig.preset('gpu')


def test_nan_loss_names_step_and_layer(model):
    m = ResNet20()
    m.load_state_dict(model.state_dict())
    m.eval()
    m.layer2[1].bn2.running_mean[3] = float('nan')
    with pytest.raises(GenieError, match=r"batch 0 step 0 .*layer2\.1\.bn2"):
        synthesize(m, TINY)


def test_corrupt_foreign_and_missing_files(model, tmp_path):
    (tmp_path / 'c.pt').write_bytes(b'\x00garbage')
    with pytest.raises(GenieError, match='corrupt'):
        SyntheticData.load(tmp_path / 'c.pt')
    torch.save({'state_dict': {}}, tmp_path / 'other.pt')
    with pytest.raises(GenieError, match='not a genie_nb synthetic-data file'):
        SyntheticData.load(tmp_path / 'other.pt')
    with pytest.raises(GenieError, match='does not exist'):
        SyntheticData.load(tmp_path / 'none.pt')
    d = synthesize(model, replace(TINY, method='gaussian'))
    d.save(tmp_path / 'g.pt')
    with pytest.raises(GenieError, match='allow_foreign'):
        SyntheticData.load(tmp_path / 'g.pt', model=ResNet20())
    assert len(SyntheticData.load(tmp_path / 'g.pt', model=ResNet20(), allow_foreign=True)) == 6
    with pytest.raises(GenieError, match='synthesized for model'):
        synthesize(ResNet20(), replace(TINY, method='gaussian'), out=tmp_path / 'g.pt')


def test_bench_synth_keys(model):
    b = bench_synth(model, batch=4, steps=1, warmup=0, reference=False)
    assert {'floor_s', 'zeroq_s', 'genie_s', 'zeroq_ratio', 'genie_ratio', 'peak_rss_mb'} <= set(b) and b[
        'floor_s'
    ] > 0
