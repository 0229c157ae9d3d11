"Genie-M post-training quantization: bad input, exact save/load, bit-width invariants, torchvision architectures, seeds, resume."

import copy, os, types, warnings
import pytest, torch, torch.nn as nn
import torchvision.models as tvm
from genie_nb.core import GenieError, StopRequested, set_threads
from genie_nb.models import ResNet20, MobileNetV2Small
from genie_nb.qmodel import QModel, QLayer, BitPolicy, save_quantized, load_quantized, quant_report
from genie_nb.recon import QuantConfig, quantize, find_units

set_threads(int(os.environ.get('GENIE_NB_THREADS', 1)))


def _model(cls=ResNet20, seed=0):
    torch.manual_seed(seed)
    m = cls().eval()
    with torch.no_grad():  # non-trivial BN statistics, so the model is not a toy
        for b in m.modules():
            if isinstance(b, nn.BatchNorm2d):
                b.running_mean.normal_(0, 0.1)
                b.running_var.uniform_(0.5, 1.5)
    return m


def _images(n=32, c=1, hw=32, seed=1):
    return torch.randn(n, c, hw, hw, generator=torch.Generator().manual_seed(seed))


def _channels_ok(qm):
    for l in qm.qlayers().values():
        if l.wq is None:
            continue
        w = l.qweight().detach()
        for c in range(len(w)):
            assert len(w[c].unique()) <= 2**l.w_bits, (l.name, c)


@pytest.fixture(scope='module')
def r20_q():
    m, x = _model(), _images()
    qm = quantize(
        m, x, QuantConfig(w_bits=3, a_bits=4, method='genie', iters=4, init_ratios=20, device='cpu')
    )
    return m, x, qm


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    'kw', [dict(w_bits=1), dict(w_bits=9), dict(a_bits=0), dict(a_bits=16), dict(w_bits=4.0)]
)
def test_bits_out_of_range(kw):
    with pytest.raises(GenieError, match='2 to 8'):
        QuantConfig(**kw)


def test_bad_method_and_preset():
    with pytest.raises(GenieError, match='method'):
        QuantConfig(method='gptq')
    with pytest.raises(GenieError, match='preset'):
        QuantConfig.preset('gpu')


def test_wrong_image_shape():
    m = _model()
    with pytest.raises(GenieError, match='channels'):
        quantize(m, _images(c=3), QuantConfig(iters=1))
    with pytest.raises(GenieError, match=r'\(N, C, H, W\)'):
        quantize(m, torch.randn(64, 32, 32), QuantConfig(iters=1))
    with pytest.raises(GenieError, match='cannot run'):
        quantize(
            nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 30 * 30, 3)),
            _images(hw=16),
            QuantConfig(iters=1),
        )


def test_too_few_images():
    with pytest.raises(GenieError, match='fewer than one reconstruction batch'):
        quantize(_model(), _images(n=16), QuantConfig(iters=1))


def test_no_conv_or_linear():
    with pytest.raises(GenieError, match='no Conv2d or Linear'):
        quantize(nn.Sequential(nn.ReLU()), _images())


def test_corrupt_and_foreign_files(tmp_path, r20_q):
    m, x, qm = r20_q
    (tmp_path / 'junk.pt').write_bytes(b'\x00garbage')
    with pytest.raises(GenieError, match='not a readable'):
        load_quantized(tmp_path / 'junk.pt', m)
    torch.save({'model': m.state_dict()}, tmp_path / 'foreign.pt')
    with pytest.raises(GenieError, match='not a genie_nb quantized model'):
        load_quantized(tmp_path / 'foreign.pt', m)
    with pytest.raises(GenieError, match='does not exist'):
        load_quantized(tmp_path / 'missing.pt', m)
    p = save_quantized(qm, tmp_path / 'q.pt')
    data = p.read_bytes()
    (tmp_path / 'trunc.pt').write_bytes(data[: len(data) // 2])
    with pytest.raises(GenieError, match='not a readable'):
        load_quantized(tmp_path / 'trunc.pt', m)


def test_other_weights_load_other_arch_refused(tmp_path, r20_q):
    m, x, qm = r20_q
    p = save_quantized(qm, tmp_path / 'q.pt')
    with torch.no_grad():  # other FP weights, same architecture: the file's numbers are loaded
        assert torch.equal(load_quantized(p, _model(seed=5))(x), qm(x))
    with pytest.raises(GenieError, match='architecture'):
        load_quantized(p, _model(MobileNetV2Small))


# ---------------------------------------------------------------- round trip and invariants
def test_round_trip_identical(tmp_path, r20_q):
    m, x, qm = r20_q
    p = save_quantized(qm, tmp_path / 'q.pt')
    ck = torch.load(p, weights_only=True)
    assert ck['meta']['method'] == 'genie' and ck['meta']['data_source'] == 'tensor'
    qm2 = load_quantized(p, m)
    with torch.no_grad():
        a, b, fp = qm(x), qm2(x), m(x)
    assert torch.equal(a, b)
    assert (a - fp).abs().mean() > 1e-4  # quantization did something
    _channels_ok(qm2)


def test_user_model_untouched(r20_q):
    m, x, qm = r20_q
    assert not any(isinstance(c, QLayer) for c in m.modules())
    assert type(m.layer1[0]).__name__ == 'BasicBlock'


def test_report(r20_q):
    rep = quant_report(r20_q[2])
    assert len(rep) == 22 and rep.attrs['fp_fraction'] == 0.0
    assert (
        rep.iloc[0].a_bits == 'fp'
        and rep.iloc[0].w_bits == 8
        and rep.iloc[-1].w_bits == 8
        and rep.iloc[5].w_bits == 3
    )


def test_duck_typed_synthetic_data():
    data = types.SimpleNamespace(images=_images(), meta={'method': 'genie', 'n': 64})
    qm = quantize(_model(), data, QuantConfig(method='rtn', init_ratios=20))
    assert qm.meta['data_source'] == 'genie' and qm.meta['method'] == 'rtn'


def test_same_seed_same_model():
    m, x = _model(), _images()
    cfg = QuantConfig(w_bits=2, a_bits=4, method='qdrop', iters=3, seed=7, init_ratios=20)
    a, b = quantize(m, x, cfg).state_dict(), quantize(m, x, cfg).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_continues_at_next_unit(tmp_path):
    m, x = _model(), _images()
    cfg = QuantConfig(w_bits=2, a_bits=4, method='genie', iters=3, seed=3, init_ratios=20)
    full = quantize(m, x, cfg).state_dict()

    def stop_after_4(e):
        return 'stop' if e['kind'] == 'unit_done' and e['index'] == 4 else None

    with pytest.raises(StopRequested):
        quantize(m, x, cfg, on_event=stop_after_4, resume=tmp_path / 'prog.pt')
    started = []
    resumed = quantize(
        m,
        x,
        cfg,
        on_event=lambda e: started.append(e['unit']) if e['kind'] == 'unit_start' else None,
        resume=tmp_path / 'prog.pt',
    ).state_dict()
    assert started[0] == 'layer2.1'  # conv1 + layer1.0-2 + layer2.0 were done
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    with pytest.raises(GenieError, match='different run'):
        quantize(
            m, x, QuantConfig(method='qdrop', iters=3, seed=3, init_ratios=20), resume=tmp_path / 'prog.pt'
        )


def test_bn_folding_option(tmp_path):
    m, x = _model(), _images()
    qm = quantize(m, x, QuantConfig(method='rtn', fold_bn=True, init_ratios=20))
    assert not any(isinstance(c, nn.BatchNorm2d) for c in qm.modules())
    qm2 = load_quantized(save_quantized(qm, tmp_path / 'f.pt'), m)
    with torch.no_grad():
        assert torch.equal(qm(x), qm2(x))


# ---------------------------------------------------------------- torchvision architectures
ARCHS = {
    'resnet18': 10,
    'resnet34': 18,
    'resnet50': 18,
    'mobilenet_v2': 20,
    'regnet_x_400mf': 24,
    'mnasnet1_0': 21,
}


@pytest.mark.parametrize('arch', list(ARCHS))
def test_torchvision_arch(arch, tmp_path):
    torch.manual_seed(0)
    m = getattr(tvm, arch)(weights=None, num_classes=10).eval()
    x = _images(n=32, c=3, hw=64)
    done = []
    # tiny budget: this proves the plumbing, not accuracy
    cfg = QuantConfig(
        w_bits=4,
        a_bits=4,
        method='genie',
        iters=3,
        recon_batch=8,
        lr_v=1e-2,
        init_ratios=5,
        eval_samples=16,
        device='cpu',
    )
    qm = quantize(m, x, cfg, on_event=lambda e: done.append(e) if e['kind'] == 'unit_done' else None)
    assert len(done) == ARCHS[arch] == len(find_units(qm))
    assert any(e['loss'] < e['rtn_loss'] for e in done), [(e['unit'], e['rtn_loss'], e['loss']) for e in done]
    qm2 = load_quantized(save_quantized(qm, tmp_path / 'q.pt'), m)
    with torch.no_grad():
        a, b, fp = qm(x[:4]), qm2(x[:4]), m(x[:4])
    assert torch.equal(a, b) and (a - fp).abs().max() > 0
    _channels_ok(qm2)
