"Foundation: real data, bundled checkpoints, evaluation, the eval CLI."

import gzip, json, subprocess, sys, shutil
from pathlib import Path
import pytest, torch
from genie_nb.core import GenieError
from genie_nb.data import load_fmnist, fmnist_loader, FMNIST_DEFAULT_DIR, FMNIST_FILES
from genie_nb.models import (
    load_bundled,
    load_checkpoint,
    save_checkpoint,
    ResNet20,
    BUNDLED,
    ASSETS,
    read_manifest,
)
from genie_nb.evaluate import evaluate
from genie_nb.train import train_model

BARS = {'default': 93.0, 'mbv2': 92.0}


@pytest.mark.parametrize('split,n', [('train', 60000), ('test', 10000)])
def test_loader_shapes_dtypes_labels_balance(split, n):
    x, y = load_fmnist(split)
    assert x.shape == (n, 1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert int(y.min()) == 0 and int(y.max()) == 9
    assert y.bincount().tolist() == [n // 10] * 10  # Fashion-MNIST is exactly balanced
    assert abs(float(x[:, :, 2:30, 2:30].mean())) < 0.05  # normalised with the training mean
    assert x[:, :, :2].unique().numel() == 1  # the 2-px padding is constant background


def test_missing_data_folder_names_files_and_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv('GENIE_NB_FMNIST_DIR', str(tmp_path))
    with pytest.raises(GenieError, match='t10k-images-idx3-ubyte.*apt-get install dataset-fashion-mnist'):
        load_fmnist('test')


def test_truncated_data_file_is_a_clear_error(tmp_path):
    for f in sum(FMNIST_FILES.values(), ()):
        shutil.copy(FMNIST_DEFAULT_DIR / f'{f}.gz', tmp_path)
    raw = gzip.open(tmp_path / 't10k-images-idx3-ubyte.gz').read()
    with gzip.open(tmp_path / 't10k-images-idx3-ubyte.gz', 'wb') as g:
        g.write(raw[: len(raw) // 2])
    with pytest.raises(GenieError, match='truncated'):
        load_fmnist('test', root=tmp_path)


@pytest.mark.parametrize('name', list(BUNDLED))
def test_bundled_checkpoint_scores_its_bar_on_full_test_set(name):
    model, meta = load_bundled(name)
    r = evaluate(model, fmnist_loader('test', batch_size=500))
    assert r['n'] == 10000 and r['top1'] >= BARS[name], r
    assert abs(r['top1'] - meta['test_top1']) < 0.05  # the metadata records what the file really scores
    assert read_manifest()[BUNDLED[name]['file']]['sha256']
    assert {'arch', 'input_shape', 'normalization', 'epochs', 'seed', 'torch_version', 'test_top1'} <= set(
        meta
    )


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    p = save_checkpoint(ResNet20(), tmp_path / 'm.pt', {'arch': 'resnet20'})
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(GenieError, match='sha256'):
        load_checkpoint(p)
    with pytest.raises(GenieError, match='not a readable genie_nb checkpoint'):
        load_checkpoint(p, check_hash=False)


def test_foreign_torch_file_is_a_clear_error(tmp_path):
    torch.save(ResNet20().state_dict(), tmp_path / 'sd.pt')
    with pytest.raises(GenieError, match='not a genie_nb checkpoint'):
        load_checkpoint(tmp_path / 'sd.pt')
    torch.save(
        ResNet20(), tmp_path / 'pickled_module.pt'
    )  # pickled code: refused by weights_only, reported clearly
    with pytest.raises(GenieError, match='not a readable'):
        load_checkpoint(tmp_path / 'pickled_module.pt')


def test_training_code_runs_a_few_steps(tmp_path):
    m = ResNet20()
    before = m.conv1.weight.clone()
    hist = train_model(m, epochs=1, max_steps=3, state_path=tmp_path / 's.pt', log=lambda h: None)
    assert len(hist) == 1 and not torch.equal(before, m.conv1.weight) and (tmp_path / 's.pt').exists()


def run_cli(*args):
    return subprocess.run(
        [sys.executable, '-c', 'from genie_nb.cli import cli; cli()', *args], capture_output=True, text=True
    )


def test_eval_cli_json_last_line():
    r = run_cli('eval', '--limit', '500', '--json')
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out['n'] == 500 and 0 <= out['top1'] <= 100 and out['seconds'] > 0 and 'loss' in out


def test_eval_cli_bad_input_exit_code_2():
    r = run_cli('eval', '--model', 'no_such_model')
    assert (
        r.returncode == 2
        and 'neither a bundled model' in r.stderr
        and len(r.stderr.strip().splitlines()) == 1
    )
