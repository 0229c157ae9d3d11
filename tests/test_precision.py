"Reduced precision: fp32 is the default path bit for bit, bf16 and auto run end to end, bad settings exit 2."

import copy
import hashlib

import pytest
import torch

from genie_nb import QuantConfig, SynthConfig, load_bundled, quantize, synthesize
from genie_nb.core import GenieError
from genie_nb.precision import autocast, fast_bf16, fp32_layers, resolve_precision
from genie_nb.quantizers import ActQuantizer
from test_cli import run_cli

needs_bf16 = pytest.mark.skipif(not fast_bf16('cpu'), reason='this CPU has no native bf16 (AVX-512 BF16 / AMX)')
TINY_SYNTH = dict(n=8, batch=4, steps=3, seed=0)
TINY_QUANT = dict(iters=4, recon_batch=4, seed=0)


def digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:16]


def probe():
    return torch.randn(8, 1, 32, 32, generator=torch.Generator().manual_seed(1234))


def test_fp32_is_the_default_path_bit_for_bit():
    "No precision given and precision='fp32' give the same bits (synthesis images and quantized logits)."
    assert SynthConfig().precision == 'fp32' and QuantConfig().precision == 'fp32'
    model, _ = load_bundled('default')
    d0 = synthesize(model, SynthConfig(**TINY_SYNTH))
    d1 = synthesize(model, SynthConfig(**TINY_SYNTH, precision='fp32'))
    assert digest(d0.images) == digest(d1.images)
    q0 = quantize(model, d0, QuantConfig(**TINY_QUANT))
    q1 = quantize(model, d1, QuantConfig(**TINY_QUANT, precision='fp32'))
    with torch.no_grad():
        assert digest(q0(probe())) == digest(q1(probe()))
    assert d1.meta['precision_used'] == 'fp32' and q1.meta['precision'] == 'fp32'


@needs_bf16
@pytest.mark.parametrize('precision', ['bf16', 'auto'])
def test_reduced_precision_end_to_end(precision):
    "MobileNetV2-small (depthwise convs) at tiny budgets: float32 images, float32/uint8 state, finite logits."
    model, _ = load_bundled('mbv2')
    data = synthesize(model, SynthConfig(**TINY_SYNTH, precision=precision))
    assert data.images.dtype == torch.float32 and torch.isfinite(data.images).all()
    assert data.meta['precision_used'] == 'bf16' and data.meta['precision'] == precision
    qm = quantize(model, data, QuantConfig(**TINY_QUANT, precision=precision))
    assert qm.meta['precision'] == 'bf16'
    assert {v.dtype for v in qm.state_dict().values()} <= {torch.float32, torch.uint8, torch.bool, torch.int64}
    with torch.no_grad():
        out = qm(probe())
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@needs_bf16
def test_auto_keeps_depthwise_convs_fp32():
    "auto holds the depthwise convs of MobileNetV2-small in float32; the ResNet-20 has none."
    mbv2, _ = load_bundled('mbv2')
    resnet, _ = load_bundled('default')
    dw = fp32_layers(mbv2, 'cpu')
    assert dw and all(mbv2.get_submodule(n).groups > 1 for n in dw)
    assert fp32_layers(resnet, 'cpu') == []
    assert resolve_precision('auto', 'cpu') == 'bf16'


def test_act_quantizer_decides_codes_in_fp32():
    "Under autocast a bf16 input is quantized in float32: same result as quantizing its float32 copy."
    aq = ActQuantizer(4).eval()  # no QDrop: deterministic
    x = torch.randn(64, 8).abs().bfloat16()
    aq.init_from(x.float())
    with autocast('bf16'):
        y = aq(x)
    assert y.dtype == torch.float32
    assert torch.equal(y, aq(x.float()))


def test_nonfinite_under_bf16_names_the_precision():
    "A BN loss that becomes NaN under reduced precision is today's error plus the precision and the way out."
    if not fast_bf16('cpu'):
        pytest.skip('this CPU has no native bf16 (AVX-512 BF16 / AMX)')
    model, _ = load_bundled('default')
    model = copy.deepcopy(model)
    model.bn1.running_var.fill_(float('nan'))
    with pytest.raises(GenieError, match=r'BN loss became nan.*computed in bf16.*--precision fp32'):
        synthesize(model, SynthConfig(**TINY_SYNTH, precision='bf16'))


def test_resolve_refuses_what_cannot_run(monkeypatch):
    with pytest.raises(GenieError, match='CUDA only'):
        resolve_precision('fp16', 'cpu')
    with pytest.raises(GenieError, match='one of fp32'):
        SynthConfig(precision='half')
    with pytest.raises(GenieError, match='one of fp32'):
        QuantConfig(precision='half')
    monkeypatch.setattr('genie_nb.precision.cpu_has_fast_bf16', lambda: False)
    with pytest.raises(GenieError, match='no native bf16'):
        resolve_precision('bf16', 'cpu')
    assert resolve_precision('auto', 'cpu') == 'fp32'


@pytest.mark.parametrize(
    'args, says',
    [
        (('quantize', '--precision', 'fp16'), 'CUDA only'),
        (('synth', '--precision', 'fp16'), 'CUDA only'),
        (('synth', '--precision', 'half'), 'invalid choice'),
    ],
)
def test_cli_bad_precision_exits_2_before_work(tmp_path, args, says):
    r = run_cli(*args, '--out', tmp_path / 'x.pt')
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / 'x.pt').exists()
