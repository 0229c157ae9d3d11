"""Seconds per production synthesis step and reconstruction step at fp32, bf16 and auto (alternating).

    nice python bench/precision.py --out bench/precision.json    # writes bench/precision.md too

Synthesis: `synthesize()` (Genie-D, swing on) with `SynthConfig(precision=...)`; a step is the time
between two consecutive 'step' events (median after the first two). Reconstruction: every unit's inputs
and outputs are cached once (float32), then the production `reconstruct_unit` (Genie-M, W4A4) runs on a
fresh copy of each unit per precision; a reconstruction step of the model is the sum over units of the
unit's mean seconds per step. The precisions alternate within each repetition; the table reports medians
over repetitions and their ratios."""

import argparse
import copy
import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

import torch

from genie_nb import QuantConfig, SynthConfig, load_bundled, load_torchvision, synthesize
from genie_nb.core import atomic_write_text, set_threads
from genie_nb.precision import fast_bf16
from genie_nb.qmodel import QModel
from genie_nb import recon
from genie_nb.recon import cache_unit_io, find_units, reconstruct_unit, unit_qlayers

PRECISIONS = ('fp32', 'bf16', 'auto')
MODELS = {  # name: (loader, input shape, synthesis batch, reconstruction batch, calibration images)
    'resnet20': (lambda: load_bundled('default')[0], (1, 32, 32), 64, 32, 64),
    'mbv2': (lambda: load_bundled('mbv2')[0], (1, 32, 32), 64, 32, 64),
    'resnet18_224': (lambda: load_torchvision('resnet18')[0], (3, 224, 224), 16, 16, 16),
}


def synth_step(model, shape, batch, steps, precision) -> tuple:
    "(CPU, wall) median seconds between consecutive 'step' events of a one-batch `synthesize` (after two)."
    cpu, wall = [], []

    def on_event(ev):
        if ev['kind'] == 'step':
            cpu.append(time.process_time())
            wall.append(time.perf_counter())

    cfg = SynthConfig(n=batch, batch=batch, steps=steps, input_shape=shape, precision=precision)
    synthesize(model, cfg, on_event=on_event)
    return tuple(statistics.median([b - a for a, b in zip(t, t[1:])][2:]) for t in (cpu, wall))


def cached_units(model, images, batch) -> tuple:
    "(QModel, [(name, x_fp, y_fp, x_q)]) with every unit's float32 inputs and outputs cached once."
    teacher = copy.deepcopy(model).eval().requires_grad_(False)
    qm = QModel(model, QuantConfig().policy).set_quant(True, False)
    out = []
    for name, unit in find_units(qm):
        for q in unit_qlayers(unit):
            q.w_on, q.a_on = False, True
        out.append((name, *cache_unit_io(teacher, qm, name, images, batch)))
        for q in unit_qlayers(unit):
            q.w_on = True
    return qm, out


def recon_step(qm, cache, batch, iters, precision) -> float:
    "Sum over units of the production `reconstruct_unit`'s mean CPU seconds per step (Genie-M, W4A4)."
    cfg = QuantConfig(iters=iters, recon_batch=batch, eval_samples=batch, precision=precision)
    total = 0.0
    recon.time = types.SimpleNamespace(perf_counter=time.process_time)  # its step clock → CPU time
    try:
        for k, (name, x_fp, y_fp, x_q) in enumerate(cache):
            unit = copy.deepcopy(qm.model.get_submodule(name))
            total += reconstruct_unit(unit, x_fp, y_fp, x_q, cfg, name, seed=k)['step_seconds']
    finally:
        recon.time = time
    return total


def measure(name, reps, synth_steps, recon_iters) -> dict:
    "Alternating fp32 / bf16 / auto, `reps` times, for synthesis and reconstruction of one model."
    load, shape, sb, rb, n = MODELS[name]
    model = load()
    images = torch.randn(n, *shape, generator=torch.Generator().manual_seed(0))
    qm, cache = cached_units(model, images, rb)
    times = {f'{stage}_{p}': [] for stage in ('synth', 'synth_wall', 'recon') for p in PRECISIONS}
    for r in range(reps):
        order = PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]
        for p in order:
            cpu, wall = synth_step(model, shape, sb, synth_steps, p)
            times[f'synth_{p}'].append(cpu)
            times[f'synth_wall_{p}'].append(wall)
            times[f'recon_{p}'].append(recon_step(qm, cache, rb, recon_iters, p))
            print(name, r, p, cpu, wall, times[f'recon_{p}'][-1], file=sys.stderr, flush=True)
    res = dict(input_shape=list(shape), synth_batch=sb, recon_batch=rb, units=len(cache), raw=times)
    for k, v in times.items():
        res[f'{k}_s'] = statistics.median(v)
    for stage in ('synth', 'synth_wall', 'recon'):
        for p in PRECISIONS[1:]:
            res[f'{stage}_{p}_speedup'] = res[f'{stage}_fp32_s'] / res[f'{stage}_{p}_s']
    return res


def markdown(res: dict) -> str:
    "The step-time table."
    lines = [
        '| model | stage | fp32 s/step | bf16 s/step | auto s/step | bf16 speed-up | auto speed-up |',
        '|---|---|---:|---:|---:|---:|---:|',
    ]
    for name, r in res['models'].items():
        for stage in ('synth', 'synth_wall', 'recon'):
            s = [r[f'{stage}_{p}_s'] for p in PRECISIONS]
            up = [r[f'{stage}_{p}_speedup'] for p in PRECISIONS[1:]]
            lines.append(
                f"| {name} | {stage} | {s[0]:.4f} | {s[1]:.4f} | {s[2]:.4f} | {up[0]:.2f}× | {up[1]:.2f}× |"
            )
    load = f" Load average (1, 5, 15 min) before {res.get('load_before')}, after {res.get('load_after')}."
    head = f"Command: `{res['command']}`. {res['note']}{load}\n\n"
    return head + '\n'.join(lines) + '\n'


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default=','.join(MODELS))
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--synth-steps', type=int, default=8)
    ap.add_argument('--recon-iters', type=int, default=8)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out', default=None, help='JSON file (a .md table is written beside it)')
    a = ap.parse_args()
    if not fast_bf16('cpu'):
        sys.exit('this CPU has no native bf16 (AVX-512 BF16 / AMX): nothing to compare')
    os.environ['GENIE_NB_THREADS'] = str(a.threads)
    set_threads(a.threads)
    torch.manual_seed(0)
    res = dict(
        command='python bench/precision.py ' + ' '.join(sys.argv[1:]),
        note='A shared 2-core CPU machine (see the load averages); precisions alternate in one run, compare '
        'the ratios. synth and recon are CPU seconds of this process per step (all its threads), synth_wall '
        'is wall-clock. Medians over repetitions.',
        load_before=os.getloadavg(),
        threads=a.threads,
        torch=str(torch.__version__),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        avx512_bf16=torch.cpu._is_avx512_bf16_supported(),
        amx=torch.cpu._is_amx_tile_supported(),
        reps=a.reps,
        synth_steps=a.synth_steps,
        recon_iters=a.recon_iters,
        models={},
    )
    for name in a.models.split(','):
        res['models'][name] = measure(name, a.reps, a.synth_steps, a.recon_iters)
        if a.out:
            res['load_after'] = os.getloadavg()
            atomic_write_text(json.dumps(res, indent=1) + '\n', a.out)
            atomic_write_text(markdown(res), Path(a.out).with_suffix('.md'))
    print(markdown(res))
