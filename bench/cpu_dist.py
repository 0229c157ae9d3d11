"""Genie-D synthesis on CPU: 2 processes × 1 thread (`synthesize_parallel`, Gloo ranks) vs 1 process ×
2 threads (`synthesize`), the same settings, run alternately in one job so that other load hits both alike.

Run from the repo root:  python bench/cpu_dist.py [--n 256] [--batch 64] [--steps 10] [--repeats 3]
Writes bench/dist_cpu.json: every run's wall seconds (launch included for the ranks), mean and spread per
configuration, whether the two configurations gave identical images, and the load average before and after.
"""

import argparse, json, os, platform, statistics, tempfile, time
from pathlib import Path
import torch
from genie_nb.core import atomic_write_text
from genie_nb.models import load_bundled
from genie_nb.synth import SynthConfig, synthesize
from genie_nb.dist import synthesize_parallel


def one_run(model, cfg, how: str, out: Path) -> tuple[float, torch.Tensor]:
    "Wall seconds and images of one synthesis ('1x2': one process, 2 threads; '2x1': two 1-thread ranks)."
    t0 = time.perf_counter()
    if how == '1x2':
        torch.set_num_threads(2)
        data = synthesize(model, cfg, out=out)
    else:
        data = synthesize_parallel(model, cfg, nproc=2, out=out, threads=1)
    return time.perf_counter() - t0, data.images


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=256)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--out', default='bench/dist_cpu.json')
    a = ap.parse_args()
    model, _ = load_bundled('default')
    cfg = SynthConfig.preset('cpu', method='genie', n=a.n, batch=a.batch, steps=a.steps)
    runs, images, load0 = {'1x2': [], '2x1': []}, {}, os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            for how in ('1x2', '2x1') if i % 2 == 0 else ('2x1', '1x2'):
                s, images[how] = one_run(model, cfg, how, Path(tmp) / f'{how}_{i}.pt')
                runs[how].append(round(s, 2))
                print(f'run {i} {how}: {s:.2f} s', flush=True)
    res = dict(
        settings=dict(
            model='default',
            method='genie',
            preset='cpu',
            n=a.n,
            batch=a.batch,
            steps=a.steps,
            gen_width=cfg.gen_width,
        ),
        runs_s=runs,
        mean_s={k: round(statistics.mean(v), 2) for k, v in runs.items()},
        stdev_s={k: round(statistics.stdev(v), 2) if len(v) > 1 else None for k, v in runs.items()},
        speedup_2x1=round(statistics.mean(runs['1x2']) / statistics.mean(runs['2x1']), 3),
        identical_images=bool(torch.equal(images['1x2'], images['2x1'])),
        loadavg_before=[round(x, 2) for x in load0],
        loadavg_after=[round(x, 2) for x in os.getloadavg()],
        cpus=os.cpu_count(),
        torch=str(torch.__version__),
        python=platform.python_version(),
    )
    atomic_write_text(json.dumps(res, indent=1) + '\n', a.out)
    print(json.dumps(res))


if __name__ == '__main__':
    main()
