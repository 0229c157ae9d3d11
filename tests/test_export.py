"Deployable export: packed file round trip, ONNX QDQ parity in ORT, torchvision export, CLI bad input."

import json, subprocess, sys
from pathlib import Path
import pytest
import torch, torch.nn as nn
from genie_nb.core import GenieError
from genie_nb.data import load_fmnist
from genie_nb.models import load_bundled, load_torchvision
from genie_nb.qmodel import QModel, BitPolicy, save_quantized, load_quantized, QMODEL_FORMAT
from genie_nb.export import export_onnx, onnx_parity, ort_session, ort_logits, torch_logits, op_types
from genie_nb.export import add_output_quantizers, deploy_form, ort_op_summary, export_fp_onnx, input_grid


def run_cli(*args):
    return subprocess.run(
        [sys.executable, '-c', 'from genie_nb.cli import cli; cli()', *map(str, args)],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope='module')
def fmnist():
    xs, ys = load_fmnist('test')
    xtr, _ = load_fmnist('train')
    return xs[:512], ys[:512], xtr[:128]


def _rtn(name, w, a, calib):
    "Round-to-nearest QModel of a bundled model with activation steps from `calib` (quick, for parity)."
    qm = QModel(load_bundled(name)[0], BitPolicy(w, a), n_ratios=20)
    with torch.no_grad():
        qm(calib)
    return qm


@pytest.mark.parametrize('name,w,a', [('default', 4, 4), ('mbv2', 2, 4), ('mbv2', 8, 8)])
def test_onnx_parity_slice(tmp_path, fmnist, name, w, a):
    xs, ys, calib = fmnist
    qm = _rtn(name, w, a, calib)
    path = export_onnx(qm, tmp_path / 'm.onnx')
    p = onnx_parity(qm, path, xs, ys)
    assert p['top1_diff_pt'] <= 0.4 and p['argmax_agree'] >= 0.99, p
    assert p['max_diff_rel'] <= 0.02, p
    ops = op_types(path)
    assert ops['QuantizeLinear'] > 0 and ops['DequantizeLinear'] > ops['QuantizeLinear'], ops
    assert ('Clip' in ops) == (a < 8 or name == 'mbv2'), ops  # b-bit range below 8 bits; ReLU6 is a Clip too


def test_float_path_exact(tmp_path, fmnist):
    "With quantization off the exported graph matches PyTorch to float rounding."
    xs, _, calib = fmnist
    qm = _rtn('default', 4, 4, calib).set_quant(False, False)
    out = ort_logits(ort_session(export_onnx(qm, tmp_path / 'f.onnx')), xs[:128])
    assert (out - torch_logits(qm, xs[:128])).abs().max() < 1e-4


def test_packed_file_alone_exact(tmp_path, fmnist):
    xs, _, calib = fmnist
    qm = _rtn('mbv2', 3, 4, calib)
    p = save_quantized(qm, tmp_path / 'q.qpt')
    assert (
        p.stat().st_size
        < 0.25
        * (Path(load_bundled.__code__.co_filename).parent / 'assets' / 'mbv2_small_fmnist.pt').stat().st_size
    )
    ck = torch.load(p, weights_only=True)
    assert 'state_dict' not in ck and ck['meta']['arch_spec'] == dict(
        kind='bundled', name='mbv2', input_shape=[1, 32, 32]
    )
    assert not any(t.dtype == torch.float32 and t.numel() > 50_000 for t in ck['blobs'].values())
    qm2 = load_quantized(p)
    with torch.no_grad():
        assert torch.equal(qm2(xs[:64]), qm(xs[:64]))


@pytest.mark.parametrize('arch', ['resnet18', 'mobilenet_v2'])
def test_torchvision_export_runs_in_ort(tmp_path, arch):
    torch.manual_seed(0)
    fp, _ = load_torchvision(arch, num_classes=10)
    qm = QModel(fp, BitPolicy(8, 8), n_ratios=5)
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        qm(x)
    path = export_onnx(qm, tmp_path / 'tv.onnx', input_shape=(3, 64, 64))
    out, ref = ort_logits(ort_session(path), x), torch_logits(qm, x)
    assert out.shape == (4, 10)
    assert (out - ref).abs().max() <= 0.05 * (ref.max() - ref.min()), (out - ref).abs().max()
    qm2 = load_quantized(save_quantized(qm, tmp_path / 'tv.qpt'))  # rebuilt from the file alone
    with torch.no_grad():
        assert torch.equal(qm2(x), qm(x))


def test_unsupported_layer_refused(tmp_path):
    qm = QModel(nn.Sequential(nn.Conv2d(1, 4, 3), nn.PReLU(), nn.Flatten(), nn.Linear(4 * 30 * 30, 3)))
    with torch.no_grad():
        qm(torch.randn(2, 1, 32, 32))
    with pytest.raises(GenieError, match='unsupported layer types'):
        export_onnx(qm, tmp_path / 'x.onnx', input_shape=(1, 32, 32))
    assert not (tmp_path / 'x.onnx').exists()


# ---------------------------------------------------------------- command line
@pytest.fixture(scope='module')
def qpt(tmp_path_factory, fmnist):
    return save_quantized(_rtn('default', 4, 4, fmnist[2]), tmp_path_factory.mktemp('q') / 'q.qpt')


def test_cli_export_onnx_and_packed(tmp_path, qpt):
    r = run_cli('export', '--quant', qpt, '--out', tmp_path / 'm.onnx', '--form', 'qdq', '--json')
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout.strip().splitlines()[-1])
    assert j['ops']['DequantizeLinear'] == 41 and Path(j['out']).exists()
    r = run_cli('export', '--quant', qpt, '--format', 'packed', '--out', tmp_path / 'p.qpt', '--json')
    assert r.returncode == 0, r.stderr
    assert load_quantized(tmp_path / 'p.qpt') is not None


def _bad(args, contains, keep: Path):
    before = keep.read_bytes()
    r = run_cli('export', *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and contains in r.stderr, r.stderr
    assert keep.read_bytes() == before


def test_cli_bad_input(tmp_path, qpt, monkeypatch):
    out = tmp_path / 'm.onnx'
    out.write_bytes(b'keep me')
    new = tmp_path / 'new.onnx'  # inputs that cannot be read: nothing is written
    _bad(['--quant', qpt, '--out', out, '--opset', 11], 'opset 11 is too low', out)
    monkeypatch.chdir(qpt.parent)  # the same file under another spelling
    _bad(['--quant', qpt, '--out', Path('.') / '..' / qpt.parent.name / 'q.qpt'], 'is also an input', qpt)
    raw = bytearray(qpt.read_bytes())
    ck = torch.load(qpt, weights_only=True)
    at = raw.find(ck['blobs']['codes'][:64].numpy().tobytes()) + 20
    raw[at] ^= 0xFF
    (tmp_path / 'flip.qpt').write_bytes(bytes(raw))
    _bad(['--quant', tmp_path / 'flip.qpt', '--out', new], 'file looks damaged', tmp_path / 'flip.qpt')
    torch.save({'weights': torch.zeros(3)}, tmp_path / 'foreign.qpt')
    _bad(['--quant', tmp_path / 'foreign.qpt', '--out', new], 'not a genie_nb quantized model', out)
    (tmp_path / 'junk.qpt').write_bytes(b'\x00junk')
    _bad(['--quant', tmp_path / 'junk.qpt', '--out', new], 'not a readable quantized model', out)
    assert not new.exists()
    _bad(['--quant', qpt, '--out', out], 'not written by genie_nb', out)  # a user's file is never replaced


def test_old_unpacked_file(tmp_path, fmnist):
    "A version-1 file (whole state_dict) loads with its model, says what to do without it, and converts."
    fp, _ = load_bundled('default')
    qm = _rtn('default', 4, 4, fmnist[2])
    old = tmp_path / 'old.qpt'
    torch.save(
        {'format': QMODEL_FORMAT, 'meta': {**qm.meta, 'format_version': 1}, 'state_dict': qm.state_dict()},
        old,
    )
    with pytest.raises(GenieError, match='old unpacked file'):
        load_quantized(old)
    r = run_cli(
        'export', '--quant', old, '--format', 'packed', '--model', 'default', '--out', tmp_path / 'new.qpt'
    )
    assert r.returncode == 0, r.stderr
    x = fmnist[0][:32]
    with torch.no_grad():
        assert torch.equal(load_quantized(tmp_path / 'new.qpt')(x), qm(x))
        assert torch.equal(load_quantized(old, fp)(x), qm(x))


# ---------------------------------------------------------------- deployment form: integer kernels in ORT
def _deploy_qm(name, calib):
    "A round-to-nearest QModel with the deployment protocol's output quantizers, calibrated on `calib`."
    if name in ('default', 'mbv2'):
        qm = _rtn(name, 4, 4, calib)
    else:
        torch.manual_seed(0)
        qm = QModel(load_torchvision(name, num_classes=10)[0], BitPolicy(8, 8), n_ratios=5)
        with torch.no_grad():
            qm(calib)
    grid = input_grid(load_bundled(name)[1]) if name in ('default', 'mbv2') else None
    add_output_quantizers(qm, calib, grid=grid)
    return qm


@pytest.mark.parametrize('name', ['default', 'mbv2', 'resnet18'])
def test_deploy_every_conv_fused(tmp_path, fmnist, name):
    "No Conv of the bundled ResNet-20, MobileNetV2-small or torchvision ResNet-18 stays float in ORT."
    calib = fmnist[2] if name != 'resnet18' else torch.randn(8, 3, 64, 64)
    qm = _deploy_qm(name, calib)
    shape = None if name != 'resnet18' else (3, 64, 64)
    path = export_onnx(qm, tmp_path / 'd.onnx', shape, form='deploy')
    s = ort_op_summary(path)
    n_conv = sum(isinstance(m.op, nn.Conv2d) for m in qm.qlayers().values())
    assert s['float_convs'] == 0 and s['fused'].get('QLinearConv') == n_conv, s
    assert s['fused'].get('QGemm') == 1 and s['fused'].get('QLinearAdd', 0) > 0, s
    if name != 'resnet18':  # int8 codes, shared constants: at most 30 % of the FP32 ONNX file
        fp = export_fp_onnx(load_bundled(name)[0], tmp_path / 'fp.onnx', (1, 32, 32))
        assert path.stat().st_size <= 0.30 * fp.stat().st_size, (path.stat().st_size, fp.stat().st_size)


@pytest.mark.parametrize('name,w,a', [('default', 2, 4), ('mbv2', 4, 4)])
def test_deploy_parity_slice(tmp_path, fmnist, name, w, a):
    "ORT's top-1 on the integer graph equals the deployment-form QModel's (a 512-image slice in CI)."
    xs, ys, calib = fmnist
    qm = _rtn(name, w, a, calib)
    add_output_quantizers(qm, calib)
    path = export_onnx(qm, tmp_path / 'd.onnx', form='deploy')
    p = onnx_parity(deploy_form(qm), path, xs, ys)
    assert p['top1_diff_pt'] <= 0.2 and p['argmax_agree'] >= 0.998, p


def test_deploy_quant_in_packed_file(tmp_path, fmnist):
    "The output quantizers travel in the packed file: the reloaded model computes the same numbers."
    qm = _deploy_qm('default', fmnist[2])
    qm2 = load_quantized(save_quantized(qm, tmp_path / 'q.qpt'))
    assert qm2.meta['deploy_quant'] == qm.meta['deploy_quant']
    with torch.no_grad():
        assert torch.equal(qm2(fmnist[0][:64]), qm(fmnist[0][:64]))


def test_cli_export_deploy_json(tmp_path, qpt):
    "A file without output quantizers still exports; the convs that cannot fuse are listed in float_ops."
    r = run_cli('export', '--quant', qpt, '--out', tmp_path / 'd.onnx', '--json')
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout.strip().splitlines()[-1])
    assert j['form'] == 'deploy' and j['fused']['QLinearConv'] > 0, j
    assert j['float_convs'] > 0 and j['float_convs'] == sum(
        n for op, n in j['float_ops'].items() if op in ('Conv', 'FusedConv', 'Gemm')
    ), j
    r = run_cli('export', '--quant', qpt, '--out', tmp_path / 'e.onnx', '--opset', 12)
    assert r.returncode == 2 and 'opset 12 is too low' in r.stderr and not (tmp_path / 'e.onnx').exists()
