"""Bad input and faults, tried as a user would: every case exits with the right code and one line, prints a
JSON object as the last stdout line under --json, and leaves every input file byte for byte as it was."""

import contextlib, hashlib, io, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path
import numpy as np
import pytest
import torch
import genie_nb.cli as cli
from genie_nb.core import GenieError, OutputLock, StopRequested, save_checked
from genie_nb.models import load_bundled, save_checkpoint, MobileNetV2Small
from genie_nb.synth import SynthConfig, SyntheticData, synthesize
from genie_nb.recon import QuantConfig, quantize
from genie_nb.core import model_fingerprint


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    "Inputs a user might have: data files (good, partial, NaN, damaged), checkpoints, files of their own."
    d = tmp_path_factory.mktemp('inputs')
    model, meta = load_bundled('default')
    tiny = SynthConfig(n=32, batch=16, method='gaussian', seed=0)
    synthesize(model, tiny, out=d / 'data.pt')
    stop = lambda ev: 'stop' if ev['kind'] == 'batch_done' else None
    synthesize(model, SynthConfig(n=64, batch=32, method='gaussian'), out=d / 'partial.pt', on_event=stop)
    good = SyntheticData.load(d / 'data.pt')
    nan = good.images.clone()
    nan[0, 0, 0, 0] = float('nan')
    SyntheticData(nan, dict(good.meta)).save(d / 'nan.pt')
    raw = bytearray((d / 'data.pt').read_bytes())
    raw[raw.find(good.images[:2].numpy().tobytes()) + 11] ^= 0x08
    (d / 'flipped.pt').write_bytes(bytes(raw))
    save_checkpoint(model, d / 'model.pt', meta, manifest=False)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd['fc.weight'][0, 0] = float('inf')
    torch.save({'state_dict': sd, 'meta': meta}, d / 'nan_weights.pt')
    torch.save({'state_dict': MobileNetV2Small().state_dict(), 'meta': meta}, d / 'wrong_arch.pt')
    (d / 'notes.txt').write_text('a file of the user')
    (d / 'a_folder').mkdir()
    (d / 'user_dir').mkdir()
    (d / 'user_dir' / 'results.csv').write_text('my results\n')
    bad = d / 'bad_fmnist'
    bad.mkdir()
    _write_idx(bad / 't10k-images-idx3-ubyte', np.zeros((4, 28, 28)))
    _write_idx(bad / 't10k-labels-idx1-ubyte', np.array([0, 1, 2, 200]))
    return d


def _write_idx(path, arr):
    head = bytes([0, 0, 8, arr.ndim]) + b''.join(int(n).to_bytes(4, 'big') for n in arr.shape)
    Path(path).write_bytes(head + arr.astype(np.uint8).tobytes())


def _hashes(folder: Path) -> dict:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob('*')) if p.is_file()
    }


def run_main(*args) -> tuple[int, str, str]:
    "`genie-nb ARGS --json` in this process → (exit code, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([*map(str, args), '--json'])
    return code, out.getvalue(), err.getvalue()


# (case id, arguments with {d} for the inputs folder, exit code, words the one-line message must contain)
CASES = [
    ('out-is-data', 'quantize --data {d}/data.pt --out {d}/data.pt', 2, 'also an input'),
    (
        'out-is-model',
        'quantize --model {d}/model.pt --data {d}/data.pt --out {d}/model.pt',
        2,
        'also an input',
    ),
    (
        'synth-out-is-model',
        'synth --model {d}/model.pt --method gaussian --out {d}/model.pt',
        2,
        'also an input',
    ),
    ('out-is-user-file', 'quantize --data {d}/data.pt --out {d}/notes.txt', 2, 'not written by genie_nb'),
    ('out-is-folder', 'quantize --data {d}/data.pt --out {d}/a_folder', 2, 'is a folder'),
    ('out-parent-is-file', 'synth --method gaussian --out {d}/notes.txt/x.pt', 2, 'is a file'),
    ('demo-fresh-user-folder', 'demo --fresh --out {d}/user_dir', 2, 'not a genie_nb output folder'),
    ('demo-out-is-file', 'demo --out {d}/notes.txt', 2, 'is a file'),
    ('damaged-data', 'quantize --data {d}/flipped.pt --out {d}/o1.qpt', 2, 'looks damaged'),
    ('nan-weights', 'eval --model {d}/nan_weights.pt', 2, 'looks damaged'),
    ('wrong-arch', 'eval --model {d}/wrong_arch.pt', 2, "missing ['conv1.weight'"),
    ('partial-data', 'quantize --data {d}/partial.pt --out {d}/o2.qpt', 2, 'holds only 32 of 64 images'),
    ('nan-images', 'quantize --data {d}/nan.pt --method rtn --out {d}/o3.qpt', 2, 'NaN or Inf'),
    ('limit-negative', 'eval --limit -5', 2, '--limit must be an integer > 0'),
    ('limit-zero', 'eval --limit 0', 2, '--limit must be an integer > 0'),
    ('n-zero', 'synth --method gaussian --n 0 --out {d}/o4.pt', 2, '--n must be'),
    ('device-unknown', 'eval --device gpu0', 2, 'not a device name'),
    (
        'cache-device-unknown',
        'quantize --data {d}/data.pt --cache-device foo --out {d}/o5.qpt',
        2,
        'not a device',
    ),
    ('threads-zero', 'eval --threads 0', 2, '--threads must be an integer > 0'),
    ('seed-negative', 'synth --seed -1 --method gaussian --out {d}/o6.pt', 2, 'seed must be'),
    (
        'seed-too-large',
        f'synth --seed {2**64} --method gaussian --out {{d}}/o7.pt',
        2,
        'seed must be at most',
    ),
    ('w-bits-9-before-work', 'quantize --data genie --w-bits 9 --out {d}/o8.qpt', 2, '--w-bits'),
    ('qpt-as-model', 'eval --model {d}/q.qpt', 2, 'pass it as --quant'),
    ('unknown-flag', 'eval --bogus', 2, 'unrecognized arguments'),
    ('bad-choice', 'quantize --method foo', 2, 'invalid choice'),
    ('missing-model', 'eval --model {d}/none.pt', 2, 'does not exist'),
]


@pytest.mark.parametrize('case,args,code,words', CASES, ids=[c[0] for c in CASES])
def test_bad_input_table(files, case, args, code, words):
    before = _hashes(files)
    got, out, err = run_main(*args.format(d=files).split())
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and words in lines[0], err  # one line that says what was wrong
    assert json.loads(out.strip().splitlines()[-1]) == {
        'error': lines[0].split(': ', 2)[2],
        'kind': 'error',
        'exit': code,
    }
    assert _hashes(files) == before  # no input changed
    assert not (files / 'o8.qpt.genie.pt').exists()  # --w-bits 9 was refused before any synthesis


def test_bad_fmnist_labels(files, monkeypatch):
    monkeypatch.setenv('GENIE_NB_FMNIST_DIR', str(files / 'bad_fmnist'))
    code, out, err = run_main('eval')
    assert code == 2 and 'labels outside 0..9' in err and len(err.strip().splitlines()) == 1


def test_bad_threads_env_is_reported_when_used_not_at_import(monkeypatch):
    env = {**os.environ, 'GENIE_NB_THREADS': 'abc'}
    r = subprocess.run(
        [sys.executable, '-c', 'import genie_nb; print("ok")'], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.strip() == 'ok', r.stderr
    monkeypatch.setenv('GENIE_NB_THREADS', 'abc')
    code, out, err = run_main('eval', '--limit', 10)
    assert code == 2 and 'GENIE_NB_THREADS must be a positive integer' in err


def test_second_writer_fails_in_use(files, tmp_path):
    out = tmp_path / 's.pt'
    with OutputLock(out):  # another genie-nb process is writing this output
        code, _, err = run_main('synth', '--method', 'gaussian', '--n', 8, '--out', out)
    assert code == 2 and 'in use by another genie-nb process' in err
    assert not out.exists()
    code, _, err = run_main('synth', '--method', 'gaussian', '--n', 8, '--out', out)
    assert code == 0, err


def test_two_processes_same_out(tmp_path):
    "Two real processes writing the same --out: exactly one succeeds, the other is refused with 'in use'."
    args = [
        'synth',
        '--method',
        'genie',
        '--n',
        16,
        '--batch',
        16,
        '--steps',
        60,
        '--out',
        tmp_path / 's.pt',
        '--json',
    ]
    cmd = [sys.executable, '-c', 'from genie_nb.cli import cli; cli()', *map(str, args)]
    env = {**os.environ, 'GENIE_NB_THREADS': '1'}
    p1 = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p2 = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (o1, e1), (o2, e2) = p1.communicate(timeout=300), p2.communicate(timeout=300)
    assert sorted([p1.returncode, p2.returncode]) == [0, 2], (e1, e2)
    assert 'in use' in (e1 + e2)
    assert SyntheticData.load(tmp_path / 's.pt').complete


def test_allow_partial_uses_what_is_there(files, tmp_path):
    code, out, err = run_main(
        'quantize',
        '--data',
        files / 'partial.pt',
        '--allow-partial',
        '--method',
        'rtn',
        '--limit',
        200,
        '--out',
        tmp_path / 'q.qpt',
    )
    assert code == 0, err
    assert 'warning' in err and json.loads(out.splitlines()[-1])['n'] == 32


def test_ctrl_c_during_synth_exits_130_and_resumes(monkeypatch, tmp_path):
    "Ctrl-C after the first batch: exit 130 saying what is kept; the same command then resumes and completes."

    def bar_that_is_interrupted(desc=''):
        def sub(ev):
            if ev['kind'] == 'step' and ev.get('batch') == 1:
                raise KeyboardInterrupt

        return sub

    monkeypatch.setattr(cli, 'tqdm_subscriber', bar_that_is_interrupted)
    args = ['synth', '--method', 'genie', '--n', 16, '--batch', 8, '--steps', 3, '--out', tmp_path / 's.pt']
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(args)  # without --json, so the progress subscriber is used
    assert code == 130 and 'kept 8 of 16 images' in err.getvalue() and 'resume' in err.getvalue()
    assert SyntheticData.load(tmp_path / 's.pt').meta['batches_done'] == 1
    monkeypatch.undo()
    code, out, err = run_main(*args)
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])['n'] == 16


def test_resume_with_other_data_is_refused(tmp_path):
    model, _ = load_bundled('default')
    a, b = torch.randn(32, 1, 32, 32), torch.randn(32, 1, 32, 32)
    cfg = QuantConfig(method='rtn', init_ratios=10)
    stop_after_first = lambda ev: 'stop' if ev['kind'] == 'unit_done' else None
    with pytest.raises(StopRequested):
        quantize(model, a, cfg, on_event=stop_after_first, resume=tmp_path / 'p.progress')
    with pytest.raises(GenieError, match='data_fingerprint'):
        quantize(model, b, cfg, resume=tmp_path / 'p.progress')


@pytest.mark.parametrize('bad', [dict(lr_latent=-0.1), dict(lr_generator=float('nan')), dict(lr_pixels=0.0)])
def test_synth_config_rejects_bad_learning_rates(bad):
    with pytest.raises(GenieError, match=list(bad)[0]):
        SynthConfig(**bad)


@pytest.mark.parametrize('bad', [dict(lr_w=-1e-4), dict(lr_v=float('inf')), dict(round_weight=-1.0)])
def test_quant_config_rejects_bad_learning_rates(bad):
    with pytest.raises(GenieError, match=list(bad)[0]):
        QuantConfig(**bad)


def test_out_in_read_only_folder(files):
    "A folder the user cannot write is refused before any work (run as an unprivileged user under root)."
    base = Path(tempfile.mkdtemp(dir='/tmp'))
    ro = base / 'ro'
    ro.mkdir()
    os.chmod(base, 0o755)
    os.chmod(ro, 0o555)
    if os.geteuid() == 0:
        os.chown(
            base, 65534, 65534
        )  # the unprivileged user's own scratch folder (matplotlib's cache goes there)
    args = ['synth', '--method', 'gaussian', '--n', 8, '--out', ro / 's.pt', '--json']
    cmd = [sys.executable, '-c', 'from genie_nb.cli import cli; cli()', *map(str, args)]
    if os.geteuid() == 0:
        cmd = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', *cmd]
    env = {**os.environ, 'MPLCONFIGDIR': str(base), 'HOME': str(base)}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=base)
    shutil.rmtree(base, ignore_errors=True)
    assert r.returncode == 2, r.stderr
    assert 'is not writable' in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert json.loads(r.stdout.strip().splitlines()[-1])['exit'] == 2
