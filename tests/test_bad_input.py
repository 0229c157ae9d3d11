"""Bad input and faults, tried as a user would: every case exits with the right code and one line, prints a
JSON object as the last stdout line under --json, and leaves every input file byte for byte as it was."""

import contextlib, hashlib, io, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path
import numpy as np
import pytest
import torch
import genie_nb.cli as cli
from genie_nb.core import GenieError, OutputLock, StopRequested, Timer, save_checked
from genie_nb.models import load_bundled, save_checkpoint, MobileNetV2Small
from genie_nb.synth import SynthConfig, SyntheticData, synthesize
from genie_nb.recon import QuantConfig, quantize
from genie_nb.core import model_fingerprint
from genie_nb.qmodel import save_quantized


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
    _output_rule_files(d, model, good)
    return d


def _output_rule_files(d: Path, model, good: SyntheticData):
    "Files for the output rules: a quantized model, links, a FIFO, user files, edited data, demo manifests."
    qm = quantize(model, good.images, QuantConfig(method='rtn', init_ratios=10))
    save_quantized(qm, d / 'q.qpt')
    shutil.copy(d / 'q.qpt', d / 'q2.qpt')  # another quantized model genie_nb wrote
    os.link(d / 'q.qpt', d / 'q_hard.qpt')
    os.link(d / 'data.pt', d / 'data_hard.pt')
    os.symlink(d / 'notes.txt', d / 'link.onnx')
    os.mkfifo(d / 'pipe.pt')
    os.mkfifo(d / 'pipe.onnx')
    (d / 'user.onnx').write_bytes(b'an ONNX model of the user')
    raw = torch.load(d / 'data.pt', weights_only=True)
    torch.save({k: v for k, v in raw.items() if k != 'sha256'}, d / 'nosum.pt')  # checksum removed
    torch.save({k: v for k, v in raw.items() if k != 'format'}, d / 'notag.pt')  # format tag removed
    SyntheticData(good.images * 1e30, dict(good.meta)).save(d / 'huge.pt')  # finite, but overflows
    (d / '.locked.pt.lock').mkdir()  # a lock path that is a folder
    for name, listed in (
        ('demo_up', '../notes.txt'),
        ('demo_abs', str(d / 'notes.txt')),
        ('demo_sub', 'sub'),
    ):
        (d / name / 'sub').mkdir(parents=True)
        (d / name / 'sub' / 'mine.txt').write_text('a file of the user')
        (d / name / '.genie_nb_outputs.json').write_text(
            json.dumps({'written_by': 'genie_nb', 'files': [listed]})
        )


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
    # every command's outputs follow the same rules (export too), replacing only a file of the kind it writes
    ('export-out-user-onnx', 'export --quant {d}/q.qpt --out {d}/user.onnx', 2, 'not written by genie_nb'),
    (
        'export-packed-out-user-file',
        'export --quant {d}/q.qpt --format packed --out {d}/notes.txt',
        2,
        'not written by genie_nb',
    ),
    ('export-out-symlink', 'export --quant {d}/q.qpt --out {d}/link.onnx', 2, 'symbolic link'),
    (
        'export-out-is-model',
        'export --quant {d}/q.qpt --model {d}/model.pt --out {d}/model.pt',
        2,
        'also an input',
    ),
    ('export-out-is-quant', 'export --quant {d}/q.qpt --format packed --out {d}/q.qpt', 2, 'also an input'),
    (
        'export-out-hard-link',
        'export --quant {d}/q.qpt --format packed --out {d}/q_hard.qpt',
        2,
        'also an input',
    ),
    ('export-out-fifo', 'export --quant {d}/q.qpt --out {d}/pipe.onnx', 2, 'not a regular file'),
    ('export-out-folder', 'export --quant {d}/q.qpt --out {d}/a_folder', 2, 'is a folder'),
    ('export-parent-is-file', 'export --quant {d}/q.qpt --out {d}/notes.txt/m.onnx', 2, 'is a file'),
    ('export-onnx-over-qpt', 'export --quant {d}/q.qpt --out {d}/q2.qpt', 2, 'another kind'),
    (
        'export-model-contradicts-qpt',
        'export --quant {d}/q.qpt --model mbv2 --out {d}/o10.onnx',
        2,
        'different architecture',
    ),
    ('quantize-out-is-synth-data', 'quantize --data {d}/data.pt --out {d}/nan.pt', 2, 'another kind'),
    ('synth-out-is-qpt', 'synth --method gaussian --out {d}/q2.qpt', 2, 'another kind'),
    ('quantize-out-hard-link', 'quantize --data {d}/data.pt --out {d}/data_hard.pt', 2, 'also an input'),
    ('synth-out-fifo', 'synth --method gaussian --out {d}/pipe.pt', 2, 'not a regular file'),
    ('synth-out-trailing-separator', 'synth --method gaussian --out {d}/newdir/', 2, 'ends with a separator'),
    ('lock-is-folder', 'synth --method gaussian --n 8 --out {d}/locked.pt', 2, 'is a folder'),
    ('name-too-long', 'synth --method gaussian --out {d}/' + 'n' * 256, 2, 'longer than 255'),
    (
        'path-too-long',
        'synth --method gaussian --out {d}/' + 'x/' * 2100 + 'a.pt',
        2,
        "longer than this system",
    ),
    # demo --fresh removes only plain names inside its folder
    ('demo-manifest-parent', 'demo --fresh --out {d}/demo_up', 2, 'not a plain file name'),
    ('demo-manifest-absolute', 'demo --fresh --out {d}/demo_abs', 2, 'not a plain file name'),
    ('demo-manifest-subfolder', 'demo --fresh --out {d}/demo_sub', 2, 'a folder'),
    # no silently wrong result
    ('data-checksum-removed', 'quantize --data {d}/nosum.pt --out {d}/o11.qpt', 2, 'has no checksum'),
    (
        'data-format-tag-removed',
        'quantize --data {d}/notag.pt --out {d}/o12.qpt',
        2,
        'not a genie_nb synthetic-data file',
    ),
    ('images-would-overflow', 'quantize --data {d}/huge.pt --method rtn --out {d}/o13.qpt', 2, 'reach |x|'),
    (
        'w-budget-with-w-bits',
        'quantize --data {d}/data.pt --w-budget 3 --w-bits 2 --out {d}/o14.qpt',
        2,
        'contradicts',
    ),
    (
        'w-candidates-without-w-budget',
        'quantize --data {d}/data.pt --w-candidates 2,4 --out {d}/o15.qpt',
        2,
        'pass --w-budget',
    ),
    (
        'n-below-recon-batch-before-synthesis',
        'quantize --data genie --n 16 --out {d}/o16.qpt',
        2,
        'fewer than one reconstruction batch',
    ),
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
    assert not (files / 'o16.qpt.genie.pt').exists()  # --n 16 too
    assert not [p.name for p in files.iterdir() if p.name.endswith(('.tmp', '.lock')) and p.is_file()]


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


def _strict_json(line: str) -> dict:
    "Parse like a strict JSON parser: a bare NaN or Infinity is an error."
    return json.loads(line, parse_constant=lambda c: pytest.fail(f'bare {c} in JSON output'))


def test_export_replaces_only_its_own_kind(files, tmp_path):
    "export writes ONNX and packed files under the output rules, and may replace what it wrote itself."
    for fmt, name in (('onnx', 'm.onnx'), ('packed', 'p.qpt')):
        for _ in range(2):  # the second run replaces the first run's file
            code, out, err = run_main(
                'export', '--quant', files / 'q.qpt', '--format', fmt, '--out', tmp_path / name
            )
            assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.onnx', 'p.qpt']  # no temporary or lock left


def test_stale_temporary_of_the_same_output_is_removed(tmp_path):
    "A writer killed outright leaves `.NAME.XXXXXXXX.tmp`; the next run of the same output removes it."
    (tmp_path / '.s.pt.0123abcd.tmp').write_bytes(b'left by a killed writer')
    (tmp_path / '.other.pt.0123abcd.tmp').write_bytes(b'another output: kept')
    code, _, err = run_main('synth', '--method', 'gaussian', '--n', 8, '--out', tmp_path / 's.pt')
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.other.pt.0123abcd.tmp', 's.pt']


def test_long_valid_file_name_is_written(tmp_path):
    "A 240-character name is valid: its temporary and lock names are shortened, never refused."
    out = tmp_path / ('n' * 237 + '.pt')
    code, _, err = run_main('synth', '--method', 'gaussian', '--n', 8, '--out', out)
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


TORCH_FULL_DISK = (
    '[enforce fail at inline_container.cc:672] . unexpected pos 2240 vs 2134'  # torch 2.14, tmpfs full
)


def test_full_disk_says_so_and_keeps_the_old_file(files, tmp_path, monkeypatch):
    "torch's zip writer on a full disk: one line naming the device, the bytes needed, and that work is kept."
    import genie_nb.core as core

    code, _, err = run_main('synth', '--method', 'gaussian', '--n', 8, '--out', tmp_path / 's.pt')
    before = (tmp_path / 's.pt').read_bytes()

    def full(obj, tmp):
        Path(tmp).write_bytes(b'x' * 100)
        raise RuntimeError(
            '[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file'
        )

    monkeypatch.setattr(core, '_torch_save', full)
    monkeypatch.setattr(core, '_free_bytes', lambda folder: 4096)
    code, out, err = run_main('synth', '--method', 'gaussian', '--n', 8, '--out', tmp_path / 's2.pt')
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (
        'no space left on the device holding' in err
        and 'bytes needed' in err
        and 'finished work is kept' in err
    )
    assert (tmp_path / 's.pt').read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ['s.pt']


def test_threads_above_the_cores_are_capped_with_a_warning():
    try:
        code, out, err = run_main('eval', '--limit', 10, '--threads', 100000)
    finally:
        cli.stage_threads(None, fresh=True)  # give the next tests their threads back
    assert code == 0, err
    assert 'warning: --threads 100000 is more than the' in err
    assert _strict_json(out.splitlines()[-1])['threads'] <= os.cpu_count()


def test_json_has_no_bare_nan(monkeypatch):
    monkeypatch.setattr(cli, 'evaluate', lambda *a, **k: dict(top1=10.0, loss=float('nan'), n=10))
    code, out, err = run_main('eval', '--limit', 10)
    assert code == 0, err
    assert _strict_json(out.splitlines()[-1])['loss'] is None


def test_ctrl_c_during_nproc_synth_says_what_was_kept(monkeypatch, tmp_path):
    "Ctrl-C under `--nproc 2`: exit 130 with what is kept and how to resume, as with one process."
    model, _ = load_bundled('default')

    def interrupted_launch(model, cfg, nproc, out, *a, **k):
        synthesize(model, cfg, out=out, on_event=lambda ev: 'stop' if ev['kind'] == 'batch_done' else None)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, 'synthesize_parallel', interrupted_launch)
    args = [
        'synth',
        '--method',
        'gaussian',
        '--nproc',
        2,
        '--n',
        16,
        '--batch',
        8,
        '--out',
        tmp_path / 's.pt',
    ]
    code, out, err = run_main(*args)
    assert code == 130 and len(err.strip().splitlines()) == 1, err
    assert 'kept 8 of 16 images' in err and 'rerun the same command to resume' in err


@pytest.mark.parametrize('command', ['synth', 'export'])
def test_out_in_read_only_folder_any_command(files, command):
    "A folder the user cannot write is exit 2, one line, for export as for synth (unprivileged under root)."
    base = Path(tempfile.mkdtemp(dir='/tmp'))
    ro = base / 'ro'
    ro.mkdir()
    shutil.copy(files / 'q.qpt', base / 'q.qpt')
    os.chmod(base / 'q.qpt', 0o644)
    os.chmod(base, 0o755)
    os.chmod(ro, 0o555)
    if os.geteuid() == 0:
        os.chown(base, 65534, 65534)
    args = {
        'synth': ['synth', '--method', 'gaussian', '--n', 8],
        'export': ['export', '--quant', base / 'q.qpt'],
    }
    args = [*args[command], '--out', ro / 'm.out', '--json']
    cmd = [sys.executable, '-c', 'from genie_nb.cli import cli; cli()', *map(str, args)]
    if os.geteuid() == 0:
        cmd = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', *cmd]
    env = {**os.environ, 'MPLCONFIGDIR': str(base), 'HOME': str(base)}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=base)
    shutil.rmtree(base, ignore_errors=True)
    assert r.returncode == 2, r.stderr
    assert 'is not writable' in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert json.loads(r.stdout.strip().splitlines()[-1])['exit'] == 2


# The Python API: bad input is a GenieError with one line that says what was wrong, before any long work.


def test_readme_api_after_plain_import():
    "`BitPolicy.from_budget` and `export_onnx` need nothing but `import genie_nb` (as the README shows)."
    code = (
        "import torch, genie_nb\n"
        "assert callable(genie_nb.export_onnx)\n"
        "m, _ = genie_nb.load_bundled('default')\n"
        "try:\n"
        "    genie_nb.BitPolicy.from_budget(m, torch.empty(0, 1, 32, 32), 3.0)\n"
        "except genie_nb.GenieError as e:\n"
        "    print('GenieError:', e)\n"
    )
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0 and 'GenieError: from_budget images must be a non-empty' in r.stdout, r.stderr


@pytest.fixture(scope='module')
def model():
    return load_bundled('default')[0]


class _Pair(torch.nn.Module):
    "A model that returns (logits, features)."

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x), x


def _explorer(model, held, test=None):
    from genie_nb.widgets import QuantErrorExplorer

    return QuantErrorExplorer(model, held, test)


def _budget_explorer(model, **kw):
    from genie_nb.widgets import BudgetExplorer

    return BudgetExplorer(model, torch.randn(64, 1, 32, 32), **kw)


def _from_budget(model, x):
    from genie_nb.mixed import BitPolicy

    return BitPolicy.from_budget(model, x, 3.0)


def _meta_model():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4)).to('meta')


def _batch(c):
    return [(torch.randn(4, c, 32, 32), torch.zeros(4, dtype=torch.long))]


_X, _NAN = torch.randn(64, 1, 32, 32), torch.full((64, 1, 32, 32), float('nan'))
API_CASES = [
    ('from-budget-empty', lambda m: _from_budget(m, torch.empty(0, 1, 32, 32)), 'non-empty float'),
    ('from-budget-3-channels', lambda m: _from_budget(m, torch.randn(8, 3, 32, 32)), '3 channels'),
    (
        'synthesize-meta-device',
        lambda m: synthesize(_meta_model(), SynthConfig(n=4, batch=4, steps=1, input_shape=(1, 8, 8))),
        'meta device',
    ),
    ('evaluate-tuple-output', lambda m: cli.evaluate(_Pair(m), _batch(1)), 'returns tuple'),
    ('evaluate-3-channels', lambda m: cli.evaluate(m, _batch(3)), '3 channels'),
    ('save-quantized-to-folder', lambda m: save_quantized(None, tempfile.mkdtemp()), 'is a folder'),
    ('explorer-empty', lambda m: _explorer(m, torch.empty(0, 1, 32, 32)), 'non-empty float'),
    ('explorer-3-channels', lambda m: _explorer(m, torch.randn(64, 3, 32, 32)), '3 channels'),
    ('explorer-nan-images', lambda m: _explorer(m, _NAN), 'NaN or Inf'),
    ('explorer-labels-mismatch', lambda m: _explorer(m, _X, (_X, torch.zeros(3).long())), '3 labels'),
    ('quant-config-init-ratios-0', lambda m: QuantConfig(init_ratios=0), 'init_ratios must be'),
    ('quant-config-eval-samples-0', lambda m: QuantConfig(eval_samples=0), 'eval_samples must be'),
    ('budget-explorer-budget-9', lambda m: _budget_explorer(m, budget=9), '9 bits is outside'),
    ('budget-explorer-a-bits-1', lambda m: _budget_explorer(m, a_bits=1), 'a_bits'),
]


@pytest.mark.parametrize('case,call,words', API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input(model, case, call, words):
    with Timer() as t:
        with pytest.raises(GenieError) as e:
            call(model)
    assert words in str(e.value) and '\n' not in str(e.value), str(e.value)
    assert t.s < 5  # checked before the work (the budget explorer's sensitivities take ~10 s)


def test_save_quantized_api_follows_the_output_rules(model, tmp_path):
    qm = quantize(model, torch.randn(32, 1, 32, 32), QuantConfig(method='rtn', init_ratios=10))
    (tmp_path / 'notes.txt').write_text('a file of the user')
    with pytest.raises(GenieError, match='not written by genie_nb'):
        save_quantized(qm, tmp_path / 'notes.txt')
    save_quantized(qm, tmp_path / 'q.qpt')
    with pytest.raises(GenieError, match='overwrite=True'):
        save_quantized(qm, tmp_path / 'q.qpt')
    save_quantized(qm, tmp_path / 'q.qpt', overwrite=True)  # its own kind of file, when asked
    SyntheticData(torch.randn(4, 1, 32, 32), {}).save(tmp_path / 'data.pt')
    with pytest.raises(GenieError, match='another kind'):
        save_quantized(qm, tmp_path / 'data.pt', overwrite=True)
    assert (tmp_path / 'notes.txt').read_text() == 'a file of the user'
    step = next(k for k in qm.state_dict() if k.endswith('.aq.scale'))
    qm.state_dict()[step].fill_(float('nan'))  # a step that did not survive its initialisation
    with pytest.raises(GenieError, match='NaN or Inf values in 1 tensors'):
        save_quantized(qm, tmp_path / 'q.qpt', overwrite=True)
