"""torch.profiler over genie_nb's Genie-D synthesis (production `synthesize`, batch 64) and Genie-M
reconstruction step (ResNet-20 `layer2.0`, batch 32): the top operators by self CPU time → bench/peers_profile.md.

    PYTHONPATH=$PWD python bench/peers/profile_ours.py [--steps 5] [--threads 1]
"""

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def synth_run(steps):
    "A closure running a one-batch production `synthesize` of `steps` steps (batch 64, cpu-preset generator)."
    import genie_nb
    from genie_nb.synth import PRESETS, SynthConfig

    model, meta = genie_nb.load_bundled('default')
    width, shape = PRESETS['cpu']['gen_width'], tuple(meta['input_shape'])
    cfg = SynthConfig(n=64, batch=64, steps=steps, gen_width=width, input_shape=shape)
    return lambda: genie_nb.synthesize(model, cfg)


def recon_run(steps):
    "A closure running `steps` Genie-M reconstruction steps on layer2.0 (cache built once)."
    import copy

    import genie_nb
    from genie_nb.core import seed_everything
    from genie_nb.qmodel import QModel
    from genie_nb.recon import QuantConfig, cache_unit_io, reconstruct_unit, unit_qlayers

    model = genie_nb.load_bundled('default')[0]
    seed_everything(0)
    cfg = QuantConfig(4, 4, 'genie', iters=steps, recon_batch=32, eval_samples=32)
    qm = QModel(model, cfg.policy).set_quant(True, False)
    unit = qm.model.get_submodule('layer2.0')
    for q in unit_qlayers(unit):
        q.w_on, q.a_on = False, True
    x = torch.randn(1024, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    x_fp, y_fp, x_q = cache_unit_io(copy.deepcopy(model).eval(), qm, 'layer2.0', x, 32, 'cpu')
    for q in unit_qlayers(unit):
        q.w_on = True
    return lambda: reconstruct_unit(unit, x_fp, y_fp, x_q, cfg, 'layer2.0', device='cpu')


def table(fn, rows) -> str:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--rows', type=int, default=15)
    p.add_argument('--out', default=str(HERE.parents[1] / 'bench/peers_profile.md'))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    synth_run(1)()  # warm-up
    synth = table(synth_run(a.steps), a.rows)
    run = recon_run(a.steps * 4)
    recon = table(run, a.rows)
    md = (
        f'# Where genie_nb spends a step (torch.profiler, CPU, {a.threads} thread; noisy shared machine)\n\n'
        'Command: `PYTHONPATH=$PWD python bench/peers/profile_ours.py '
        f'--steps {a.steps} --threads {a.threads}`\n\n'
        f'## Genie-D synthesis: {a.steps} steps at batch 64, ResNet-20, generator width 32\n\n'
        f'```\n{synth}\n```\n\n'
        f'## Genie-M reconstruction: {a.steps * 4} steps at batch 32, ResNet-20 `layer2.0`, W4A4\n\n'
        f'```\n{recon}\n```\n'
    )
    Path(a.out).write_text(md)
    print(md)


if __name__ == '__main__':
    main()
