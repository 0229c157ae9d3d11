"""Speed side by side: genie_nb vs the official Genie code, alternating, each measurement in its own
subprocess.

    PYTHONPATH=$PWD python bench/peers/speed.py --genie-dir /work/scratch/genie_official [--reps 2]

Measurements (each in a fresh subprocess, so its peak RSS is its own):
- synth:   seconds per Genie-D synthesis step at batch 64 on the bundled ResNet-20 (genie_nb: the
  production `synthesize` with the cpu preset's generator, width 32, timed between its 'step' events;
  official: its own Generator (widths 128/64) at 32x32 with one output channel, inside its `distill_data`, timed between consecutive generator
  calls).
- recon_*: seconds per Genie-M reconstruction step on one block at batch 32, W4A4, 1024 cached random images
  (genie_nb: `reconstruct_unit` as genie_nb.bench.speed.bench_recon times it; official: `reconstruct_block` with N
  = 1024 so that its batch N/32 is 32, timed between consecutive block forwards): ResNet-20 `layer2.0` and
  MobileNetV2-small `features.3` (an inverted residual block with its skip).
- e2e:     wall seconds of a tiny zero-shot pipeline on ResNet-20: synthesis of 256 images (batch 64, 20
  steps), W4A4 Genie-M with 20 iterations per unit (official: its batch is 256/32 = 8), then top-1 on 2,000
  test images (timed separately).

The order alternates (ours, official, official, ours, ...), so a shared, noisy machine biases neither side.
`--ours-precisions auto` adds genie_nb at that compute precision as a third column (`ours_auto`).
Writes bench/peers_speed.json.
"""

import argparse
import copy
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

KINDS = ('synth', 'recon_default', 'recon_mbv2', 'e2e')
BLOCKS = {'recon_default': ('default', 'layer2.0'), 'recon_mbv2': ('mbv2', 'features.3')}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StepClock:
    "Forward pre-hook recording the time of every call: one call per optimisation step."

    def __init__(self, module):
        self.times = []
        self.handle = module.register_forward_pre_hook(lambda m, a: self.times.append(time.perf_counter()))

    def per_step(self, warmup: int) -> float:
        t = self.times[warmup:]
        return (t[-1] - t[0]) / (len(t) - 1)


def ours_synth(steps, warmup, precision='fp32'):
    "Seconds per step of the production `synthesize` (one batch of 64, cpu preset generator) at `precision`."
    import genie_nb
    from genie_nb.synth import PRESETS, SynthConfig

    model, meta = genie_nb.load_bundled('default')
    times = []

    def on_event(ev):
        if ev['kind'] == 'step':
            times.append(time.perf_counter())

    cfg = SynthConfig(
        n=64, batch=64, steps=steps + warmup + 1, gen_width=PRESETS['cpu']['gen_width'],
        input_shape=tuple(meta['input_shape']), precision=precision,
    )  # fmt: skip
    genie_nb.synthesize(model, cfg, on_event=on_event)
    t = times[warmup:]
    return dict(step_s=(t[-1] - t[0]) / (len(t) - 1))


def official_synth(genie_dir, steps, warmup):
    import genie_nb
    from official_genie import adapt_model, import_official

    distill, _, _ = import_official(genie_dir)
    model = adapt_model(genie_nb.load_bundled('default')[0])[0]
    make = distill.Generator
    clocks = []

    def clocked(*a, **k):
        g = make(*a, **k)
        clocks.append(StepClock(g))
        return g

    distill.Generator = clocked
    distill.distill_data(model, batch_size=64, total_samples=64, iters=steps + warmup + 1)
    return dict(step_s=clocks[0].per_step(warmup))


def _images(n=1024):
    return torch.randn(n, 1, 32, 32, generator=torch.Generator().manual_seed(0))


def ours_recon(name, block, steps, warmup=2, precision='fp32'):
    import genie_nb
    from genie_nb.qmodel import QModel
    from genie_nb.recon import QuantConfig, cache_unit_io, reconstruct_unit, unit_qlayers
    from genie_nb.core import seed_everything

    model = genie_nb.load_bundled(name)[0]
    seed_everything(0)
    cfg = QuantConfig(
        4, 4, 'genie', iters=steps + warmup, recon_batch=32, eval_samples=32, precision=precision
    )
    qm = QModel(model, cfg.policy).set_quant(True, False)
    unit = qm.model.get_submodule(block)
    for q in unit_qlayers(unit):
        q.w_on, q.a_on = False, True
    x_fp, y_fp, x_q = cache_unit_io(copy.deepcopy(model).eval(), qm, block, _images(), 32, 'cpu')
    for q in unit_qlayers(unit):
        q.w_on = True
    st = reconstruct_unit(unit, x_fp, y_fp, x_q, cfg, block, device='cpu')
    return dict(step_s=st['step_seconds'])  # as bench_recon: the mean over the steps after the first 2


def official_recon(genie_dir, name, block, steps, warmup):
    import genie_nb
    from torch import nn
    from official_genie import adapt_model, import_official, seed_all

    _, reconstruct, quantizer = import_official(genie_dir)
    utils = sys.modules['utils']
    model = adapt_model(genie_nb.load_bundled(name)[0])[0]
    seed_all(0)
    qmodel = reconstruct.quantize_model(model, 4, 4, (nn.Conv2d, nn.Linear, nn.Identity))
    t_block, s_block = model.get_submodule(block), qmodel.get_submodule(block)
    for m in s_block.modules():  # what reconstruct() does before caching a unit
        if isinstance(m, reconstruct.QuantizableLayer):
            m.enable_act_quant = True
        elif isinstance(m, (quantizer.WeightQuantizer, quantizer.ActivationQuantizer)):
            m.train_mode = True
    t_hook, s_hook = utils.ActivationHook(t_block), utils.ActivationHook(s_block)
    xs, ys, xqs = [], [], []
    with torch.no_grad():
        for x in _images().view(-1, 32, 1, 32, 32):
            model(x)
            qmodel(x)
            xs.append(t_hook.inputs)
            ys.append(t_hook.outputs)
            xqs.append(s_hook.inputs)
    t_hook.remove()
    s_hook.remove()
    clock = StepClock(s_block)
    reconstruct.reconstruct_block(
        s_block, torch.cat(xs), torch.cat(xqs), torch.cat(ys), iterations=steps + warmup, batch_size=32
    )
    return dict(step_s=clock.per_step(warmup))


def ours_e2e(steps=20, iters=20, precision='fp32'):
    import genie_nb

    model = genie_nb.load_bundled('default')[0]
    t0 = time.perf_counter()
    scfg = genie_nb.SynthConfig.preset('cpu', method='genie', n=256, steps=steps, precision=precision)
    data = genie_nb.synthesize(model, scfg)
    t1 = time.perf_counter()
    qcfg = genie_nb.QuantConfig.preset('cpu', w_bits=4, a_bits=4, iters=iters, precision=precision)
    qm = genie_nb.quantize(model, data, qcfg)
    t2 = time.perf_counter()
    top1 = genie_nb.evaluate(qm, genie_nb.fmnist_loader('test', limit=2000))['top1']
    return dict(
        synth_s=t1 - t0, quant_s=t2 - t1, e2e_s=t2 - t0, eval_s=time.perf_counter() - t2, top1_2k=top1
    )


def official_e2e(genie_dir, steps=20, iters=20):
    import genie_nb
    from torch import nn
    from official_genie import adapt_model, import_official, seed_all

    distill, reconstruct, _ = import_official(genie_dir)
    model = adapt_model(genie_nb.load_bundled('default')[0])[0]
    seed_all(0)
    t0 = time.perf_counter()
    x = distill.distill_data(model, batch_size=64, total_samples=256, iters=steps)
    t1 = time.perf_counter()
    qmodel = reconstruct.quantize_model(model, 4, 4, (nn.Conv2d, nn.Linear, nn.Identity))
    units = ('BasicBlock', 'InvertedResidual', 'Linear', 'Conv2d')
    reconstruct.reconstruct(model, qmodel, x, units, round_weight=1.0, iterations=iters, batch_size=32)
    t2 = time.perf_counter()
    top1 = genie_nb.evaluate(qmodel, genie_nb.fmnist_loader('test', limit=2000))['top1']
    return dict(
        synth_s=t1 - t0, quant_s=t2 - t1, e2e_s=t2 - t0, eval_s=time.perf_counter() - t2, top1_2k=top1
    )


def one(impl, kind, a) -> dict:
    "One measurement in this process."
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    ours = impl.startswith('ours')
    prec = impl.split('_')[1] if '_' in impl else 'fp32'  # 'ours' is fp32, 'ours_auto' auto, ...
    if kind == 'synth':
        r = ours_synth(a.synth_steps, 2, prec) if ours else official_synth(a.genie_dir, a.synth_steps, 2)
    elif kind in BLOCKS:
        name, block = BLOCKS[kind]
        r = (
            ours_recon(name, block, a.recon_steps, 2, prec)
            if ours
            else official_recon(a.genie_dir, name, block, a.recon_steps, 2)
        )
    else:
        e = (a.e2e_steps, a.e2e_iters)
        r = ours_e2e(*e, prec) if ours else official_e2e(a.genie_dir, *e)
    return dict(
        impl=impl, kind=kind, **{k: round(v, 4) for k, v in r.items()}, peak_rss_mib=round(_rss_mib(), 1)
    )


def measure(impl, kind, a) -> dict:
    "`one` in a fresh subprocess; its JSON line."
    cmd = [sys.executable, __file__, '--one', f'{impl}:{kind}', '--genie-dir', a.genie_dir, '--threads',
           str(a.threads), '--synth-steps', str(a.synth_steps), '--recon-steps', str(a.recon_steps),
           '--e2e-steps', str(a.e2e_steps), '--e2e-iters', str(a.e2e_iters)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if r.returncode:
        raise SystemExit(f'{impl}:{kind} failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def summary(runs, impls=('ours', 'official')) -> dict:
    "Median per (impl, kind) and the official/ours ratio of every `ours*` variant."
    import statistics

    out = {}
    for kind in KINDS:
        for key in ('step_s', 'e2e_s', 'synth_s', 'quant_s', 'eval_s', 'peak_rss_mib', 'top1_2k'):
            v = {i: [r[key] for r in runs if (r['kind'], r['impl']) == (kind, i) and key in r] for i in impls}
            if not (v['ours'] and v['official']):
                continue
            m = {i: statistics.median(x) for i, x in v.items() if x}
            ratios = {f'official_over_{i}': round(m['official'] / m[i], 3) for i in m if i != 'official'}
            out[f'{kind}.{key}'] = dict(**m, **ratios)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--genie-dir', required=True)
    p.add_argument('--reps', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--synth-steps', type=int, default=10)
    p.add_argument('--recon-steps', type=int, default=30)
    p.add_argument('--e2e-reps', type=int, default=1, help='repetitions of the (long) e2e measurement')
    p.add_argument('--e2e-steps', type=int, default=20)
    p.add_argument('--e2e-iters', type=int, default=20)
    p.add_argument('--kinds', default=','.join(KINDS))
    p.add_argument('--ours-precisions', default='', help="extra precisions of ours, e.g. 'auto,bf16'")
    p.add_argument('--out', default=str(REPO / 'bench/peers_speed.json'))
    p.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        impl, kind = a.one.split(':')
        print(json.dumps(one(impl, kind, a)))
        return
    runs = []
    impls = ('ours', *[f'ours_{p}' for p in a.ours_precisions.split(',') if p], 'official')
    for rep in range(a.reps):
        for kind in a.kinds.split(','):
            if kind == 'e2e' and rep >= a.e2e_reps:
                continue
            for impl in impls if rep % 2 == 0 else impls[::-1]:
                runs.append(measure(impl, kind, a))
                print(json.dumps(runs[-1]), flush=True)
    res = dict(
        note='NOISY: measured on a shared 2-core CPU machine with other jobs running; compare the ratios '
        '(alternating order, same conditions), not the absolute seconds',
        command='python bench/peers/speed.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
        threads=a.threads, synth_steps=a.synth_steps, recon_steps=a.recon_steps, reps=a.reps,
        e2e_reps=a.e2e_reps,
        torch=str(torch.__version__), summary=summary(runs, impls), runs=runs,
    )  # fmt: skip
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
    print(json.dumps(res['summary'], indent=1))


if __name__ == '__main__':
    main()
