"The command line end to end on the bundled model at tiny budgets: synth → quantize → eval --quant, demo, bench grid row."

import json, subprocess, sys
from pathlib import Path
import pytest


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, '-c', 'from genie_nb.cli import cli; cli()', *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def last_json(r):
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_synth_quantize_eval_roundtrip(tmp_path):
    s = last_json(
        run_cli(
            'synth',
            '--method',
            'genie',
            '--n',
            32,
            '--batch',
            16,
            '--steps',
            5,
            '--out',
            tmp_path / 'd.pt',
            '--json',
        )
    )
    assert s['n'] == 32 and s['complete'] and s['bn_loss_last'] < s['bn_loss_first'] and s['s_per_step'] > 0
    q = last_json(
        run_cli(
            'quantize',
            '--data',
            tmp_path / 'd.pt',
            '--method',
            'genie',
            '--w-bits',
            4,
            '--a-bits',
            4,
            '--iters',
            3,
            '--limit',
            1000,
            '--out',
            tmp_path / 'q.qpt',
            '--json',
        )
    )
    assert (
        q['data'] == 'genie'
        and q['n'] == 32
        and q['iters'] == 3
        and 0 <= q['top1'] <= 100
        and q['fp_top1'] > 80
    )
    e = last_json(run_cli('eval', '--quant', tmp_path / 'q.qpt', '--limit', 1000, '--json'))
    assert e['top1'] == pytest.approx(q['top1'])  # the saved file restores the quantized model exactly
    r = run_cli('eval', '--model', 'mbv2', '--quant', tmp_path / 'q.qpt')  # made from another model: refused
    assert r.returncode == 2 and 'quantized from' in r.stderr


def test_quantize_bad_bits_exit_2(tmp_path):
    r = run_cli('quantize', '--data', 'gaussian', '--n', 32, '--w-bits', 9, '--out', tmp_path / 'q.qpt')
    assert r.returncode == 2 and '--w-bits' in r.stderr


def test_demo_tiny_budget_json_and_reuse(tmp_path):
    args = ('demo', '--n', 32, '--steps', 3, '--iters', 2, '--out', tmp_path / 'out', '--json')
    d = last_json(run_cli(*args))
    names = [r['model'] for r in d['rows']]
    assert (
        names[0] == 'FP32'
        and any('RTN' in n for n in names)
        and any('zero-shot' in n for n in names)
        and any('real' in n for n in names)
    )
    assert (tmp_path / 'out' / 'synth_genie.pt').exists() and (tmp_path / 'out' / 'demo.json').exists()
    d2 = last_json(run_cli(*args))  # second run reuses the artifacts
    assert [r['top1'] for r in d2['rows']] == [r['top1'] for r in d['rows']] and sum(
        r['quant_seconds'] for r in d2['rows']
    ) == 0


def test_bench_grid_one_row_tiny(tmp_path):
    from genie_nb.bench.grid import run_grid, read_results, results_markdown

    rows = [dict(model='default', source='genie', method='genie', bits='W2A4', seed=0)]
    assert (
        run_grid(
            tmp_path / 'r.csv', rows, tmp_path / 'cache', n=32, iters=2, synth_steps=3, log=lambda s: None
        )
        == 1
    )
    assert (
        run_grid(
            tmp_path / 'r.csv', rows, tmp_path / 'cache', n=32, iters=2, synth_steps=3, log=lambda s: None
        )
        == 0
    )  # finished rows skipped
    r = read_results(tmp_path / 'r.csv')[0]
    assert (
        r['bits'] == 'W2A4'
        and r['iters'] == '2'
        and float(r['fp_top1']) > 90
        and 'genie' in results_markdown(tmp_path / 'r.csv')
    )


def test_quantize_plain_tensor_file(tmp_path):
    "A bare (N, C, H, W) tensor from another tool (e.g. Sony MCT's data generation) is calibration 'file'."
    import torch

    torch.manual_seed(0)
    torch.save(torch.randn(32, 1, 32, 32), tmp_path / 'plain.pt')
    torch.save({'images': torch.randn(32, 1, 32, 32), 'meta': {'tool': 'other'}}, tmp_path / 'dict.pt')
    for name in ('plain.pt', 'dict.pt'):
        q = last_json(
            run_cli(
                'quantize', '--data', tmp_path / name, '--method', 'rtn', '--limit', 500,
                '--out', tmp_path / f'{name}.qpt', '--json',
            )
        )  # fmt: skip
        assert q['data'] == 'file' and q['n'] == 32 and q['input_shape'] == [1, 32, 32] and q['top1'] > 10
    torch.save(torch.randn(32, 1, 28, 28), tmp_path / 'small.pt')
    r = run_cli('quantize', '--data', tmp_path / 'small.pt', '--method', 'rtn', '--out', tmp_path / 'q.qpt')
    assert r.returncode == 2 and '(1, 28, 28) but the model takes (1, 32, 32)' in r.stderr
    bad = torch.randn(32, 1, 32, 32)
    bad[3, 0, 5, 5] = float('nan')
    torch.save(bad, tmp_path / 'nan.pt')
    r = run_cli('quantize', '--data', tmp_path / 'nan.pt', '--method', 'rtn', '--out', tmp_path / 'q.qpt')
    assert r.returncode == 2 and 'non-finite' in r.stderr and not (tmp_path / 'q.qpt').exists()
