"Thread choice (--threads, GENIE_NB_THREADS, the load policy), stated in every command's JSON and grid row."

import json, os, subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, env_threads=None):
    env = {k: v for k, v in os.environ.items() if k != 'GENIE_NB_THREADS'}
    if env_threads is not None:
        env['GENIE_NB_THREADS'] = env_threads
    return subprocess.run(
        [sys.executable, '-c', 'from genie_nb.cli import cli; cli()', *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
    )


def last_json(r):
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_json_states_the_thread_choice():
    r = last_json(run_cli('eval', '--limit', 10, '--json', env_threads='1'))
    assert (r['threads'], r['thread_policy'], r['other_load']) == (1, 'GENIE_NB_THREADS', None)
    r = last_json(run_cli('eval', '--limit', 10, '--threads', 1, '--json', env_threads='2'))
    assert (r['threads'], r['thread_policy']) == (1, '--threads')  # the flag beats the variable
    r = last_json(run_cli('eval', '--limit', 10, '--json'))
    cores = len(os.sched_getaffinity(0))
    assert r['thread_policy'] == 'policy' and 1 <= r['threads'] <= cores and r['other_load'] >= 0


def test_policy_leaves_a_busy_core_alone():
    busy = subprocess.Popen([sys.executable, '-c', 'while True: pass'])
    try:
        r = last_json(run_cli('eval', '--limit', 10, '--json'))
    finally:
        busy.kill()
        busy.wait()
    assert r['thread_policy'] == 'policy' and r['other_load'] > 0.5, r
    assert r['threads'] <= max(1, len(os.sched_getaffinity(0)) - 1), r


def test_bench_threads_bad_model_refused_before_work():
    r = run_cli('bench', 'threads', '--models', 'default,vgg', '--json')
    assert r.returncode == 2 and 'unknown vgg' in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _csv_without_thread_columns(path, n_rows: int) -> list[str]:
    "Header and first rows of a results CSV with the `threads`/`thread_policy` columns removed (the old format)."
    import csv
    import io

    rows = list(csv.DictReader(open(path)))[:n_rows]
    cols = [c for c in rows[0] if c not in ('threads', 'thread_policy')]
    out = io.StringIO()
    w = csv.DictWriter(out, cols, extrasaction='ignore')
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().splitlines()


def test_grid_rows_state_threads_and_old_csv_still_reads(tmp_path, monkeypatch):
    import torch
    from genie_nb.core import THREAD_CHOICE, stage_threads
    from genie_nb.bench.grid import run_grid, read_results, results_markdown

    old = _csv_without_thread_columns(REPO / 'bench' / 'results.csv', n_rows=2)  # as written before them
    assert 'thread_policy' not in old[0]
    csv_path = tmp_path / 'r.csv'
    csv_path.write_text('\n'.join(old) + '\n')
    spec = dict(model='default', source='genie', method='genie', bits='W3A3', seed=7)
    saved = dict(THREAD_CHOICE), torch.get_num_threads()
    monkeypatch.setenv('GENIE_NB_THREADS', '1')
    try:
        stage_threads(fresh=True)  # forget a pin another test module's import made
        assert run_grid(csv_path, [spec], tmp_path / 'cache', n=32, iters=2, synth_steps=2, log=print) == 1
    finally:
        THREAD_CHOICE.update(saved[0])
        torch.set_num_threads(saved[1])
    rows = read_results(csv_path)
    assert len(rows) == 3 and rows[0]['thread_policy'] == '' and rows[0]['top1'] == old[1].split(',')[5]
    assert (rows[-1]['threads'], rows[-1]['thread_policy']) == ('1', 'GENIE_NB_THREADS')
    assert 'W3A3' in results_markdown(csv_path)
