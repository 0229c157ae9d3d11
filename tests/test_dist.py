"Synthesis over torch.distributed ranks (Gloo): the one-process file, resume after a killed rank, bad input"

import io, json, os, signal, subprocess, sys, threading, time
from pathlib import Path
import pytest, torch
from genie_nb.cli import main
from genie_nb.dist import launch_local, synthesize_dist
from genie_nb.models import load_bundled
from genie_nb.synth import SynthConfig, synthesize

CFG = SynthConfig(n=16, batch=4, steps=20)  # 4 batches: two rounds of two ranks
ARGS = ['--images', '16', '--batch', '4', '--steps', '20', '--threads', '1', '--json']
TIMINGS = ('seconds', 'batch_seconds', 's_per_step')
ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]), GENIE_NB_THREADS='1')


@pytest.fixture(autouse=True)
def _keep_threads():
    "`main(['--threads', '1', ...])` sets this process's threads: give the next tests theirs back."
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def ref(tmp_path_factory):
    "The one-process, one-thread file every multi-process run must reproduce."
    out = tmp_path_factory.mktemp('dist') / 'one.pt'
    threads, env = torch.get_num_threads(), os.environ.get('GENIE_NB_THREADS')
    os.environ['GENIE_NB_THREADS'] = '1'  # synthesize sets its stage's threads from it
    try:
        synthesize(load_bundled('default')[0], CFG, out=out)
    finally:
        os.environ.pop('GENIE_NB_THREADS')
        if env is not None:
            os.environ['GENIE_NB_THREADS'] = env
        torch.set_num_threads(threads)
    return out


def _blanked(path) -> bytes:
    "The content saved to memory, wall times blanked and the checksum (which covers them) left out."
    d = torch.load(path, weights_only=True)
    d['meta'].update(dict.fromkeys(TIMINGS))
    d.pop('sha256')  # the file's own checksum covers the wall times
    buf = io.BytesIO()
    torch.save(d, buf)
    return buf.getvalue()


def _same_as(path, ref):
    a, b = torch.load(path, weights_only=True), torch.load(ref, weights_only=True)
    assert torch.equal(a['images'], b['images'])
    assert {k: v for k, v in a['meta'].items() if k not in TIMINGS} == {
        k: v for k, v in b['meta'].items() if k not in TIMINGS
    }
    assert _blanked(path) == _blanked(ref)  # nothing else differs, down to the bytes


def test_torchrun_two_gloo_ranks_write_the_one_process_file(ref, tmp_path):
    out = tmp_path / 'torchrun.pt'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', '2']
    r = subprocess.run(
        [*cmd, '-m', 'genie_nb.cli', 'synth', *ARGS, '--out', str(out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1  # rank 1 is silent
    res = json.loads(lines[0])
    assert res['ranks'] == 2 and res['complete'] and res['n'] == 16
    _same_as(out, ref)


def _forked_ranks() -> list[int]:
    "The rank processes forked from this one (same command line), oldest first."
    me, cmdline = os.getpid(), Path('/proc/self/cmdline').read_bytes()
    kids = []
    for p in Path('/proc').iterdir():
        try:
            if p.name.isdigit() and int((p / 'stat').read_text().rsplit(')', 1)[1].split()[1]) == me:
                if (p / 'cmdline').read_bytes() == cmdline:
                    kids.append(int(p.name))
        except (OSError, ValueError, IndexError):
            pass
    return sorted(kids)


def _kill_a_rank_after_round_1(out, killed: list):
    "Wait until rank 0 saved the first round (the file appears), then SIGKILL the newest rank process."
    t0 = time.time()
    while not out.exists() and time.time() - t0 < 240:
        time.sleep(0.005)
    ranks = _forked_ranks()
    if ranks:
        os.kill(ranks[-1], signal.SIGKILL)
        killed.append(ranks[-1])


def test_killed_rank_fails_the_job_and_a_rerun_resumes(ref, tmp_path, capsys):
    out = tmp_path / 'two.pt'
    argv = ['synth', '--nproc', '2', *ARGS, '--out', str(out)]
    killed = []
    killer = threading.Thread(target=_kill_a_rank_after_round_1, args=(out, killed))
    killer.start()
    code = main(argv)  # the launcher runs in this (main) thread; its ranks are forks of this process
    killer.join()
    err = capsys.readouterr().err
    assert killed and code == 2 and 'failed (signal SIGKILL)' in err and 'resume' in err, err[-2000:]
    part = torch.load(out, weights_only=True)['meta']
    assert part['batches_done'] == 2 and part['complete'] is False  # the finished round only, not complete
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])['complete']
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['batch_seconds'][:2] == part['batch_seconds']  # kept, not made again
    _same_as(out, ref)


def test_more_ranks_than_batches_is_refused_before_launching(tmp_path, capsys):
    out = tmp_path / 'x.pt'
    assert main(['synth', '--nproc', '5', *ARGS, '--out', str(out)]) == 2
    assert '--nproc 5 is more than the 4 batches' in capsys.readouterr().err
    assert not out.exists()


def _rank_with_own_seed(out):
    "A rank started with settings of its own (its rank as seed): every rank must refuse alike."
    rank = int(os.environ['RANK'])
    torch.set_num_threads(1)
    try:
        synthesize_dist(load_bundled('default')[0], SynthConfig(n=8, batch=4, steps=3, seed=rank), out=out)
    except Exception as e:
        return f'{type(e).__name__}: {e}'
    return 'ran'


def test_ranks_with_mismatched_settings_all_refuse(tmp_path):
    out = tmp_path / 'x.pt'
    res = launch_local(2, _rank_with_own_seed, out, start_method='fork')
    assert res[0] == res[1] and res[0].startswith(
        'GenieError: rank 1 has other settings than rank 0 (seed: 1 ≠ 0'
    )
    assert not out.exists()


def _rank_events(out):
    "Rank 0 asks to stop in its second round; every rank returns the events it saw and its result."
    seen = []

    def sub(ev):
        seen.append({k: v for k, v in ev.items() if k not in ('images', 'layers')})
        return 'stop' if ev['kind'] == 'step' and ev['batch'] == 2 else None

    torch.set_num_threads(1)
    data = synthesize_dist(load_bundled('default')[0], SynthConfig(n=16, batch=4, steps=3), sub, out)
    return seen, None if data is None else data.meta


def test_rank_0_alone_reports_global_steps_and_a_stop_ends_every_rank(tmp_path):
    res = launch_local(2, _rank_events, tmp_path / 'x.pt', start_method='fork')
    (ev0, meta0), (ev1, meta1) = res[0], res[1]
    assert ev1 == [] and meta1 is None  # the other rank is silent
    steps = [e for e in ev0 if e['kind'] == 'step']
    assert [e['global_step'] for e in steps] == [2, 4, 6, 8]  # two ranks × 3 steps, then 6 + 2
    assert all(e['advance'] == 2 and e['global_steps'] == 12 for e in steps)
    assert [e['batch'] for e in ev0 if e['kind'] == 'batch_done'] == [0, 1]
    assert meta0['stopped'] == 'stop requested' and meta0['batches_done'] == 2 and not meta0['complete']
    assert torch.load(tmp_path / 'x.pt', weights_only=True)['meta']['batches_done'] == 2
