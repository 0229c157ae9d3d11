"""Genie-D synthesis (paper preset: batch 128, generator width 128) of a torchvision ResNet-18 at 224×224
(random weights) for a fixed number of steps, on 1 GPU and on all visible GPUs (one NCCL rank per GPU,
`synthesize_parallel`).

Run from the repo root:  python bench/gpu_dist.py [--steps 50] [--batches-per-gpu 2]
Writes bench/gpu/dist_resnet18_<k>gpu.json for each GPU count k: optimisation steps per second of the whole
job and per GPU (from rank 0's synthesis wall time, launch excluded) and the launch-included wall time.
Without a GPU it says so and exits (status 0): it is never part of CI.
"""

import argparse, json, sys, tempfile, time
from pathlib import Path
import torch
from genie_nb.core import atomic_write_text
from genie_nb.models import load_torchvision
from genie_nb.synth import SynthConfig
from genie_nb.dist import synthesize_parallel


def rate(model, gpus: int, steps: int, per_gpu: int, tmp: Path) -> dict:
    "Steps/s of a `gpus`-rank synthesis of `gpus × per_gpu` batches of 128 images, `steps` steps each."
    cfg = SynthConfig.preset(
        'paper', method='genie', n=128 * gpus * per_gpu, steps=steps, device='cuda', input_shape=(3, 224, 224)
    )
    t0 = time.perf_counter()
    data = synthesize_parallel(model, cfg, nproc=gpus, out=tmp / f'{gpus}gpu.pt')
    wall = time.perf_counter() - t0
    m, total_steps = data.meta, len(data.meta['bn_loss']) * steps
    return dict(
        gpus=gpus,
        batches=len(m['bn_loss']),
        batch=cfg.batch,
        steps_per_batch=steps,
        gen_width=cfg.gen_width,
        synth_seconds=round(m['seconds'], 2),
        wall_seconds_with_launch=round(wall, 2),
        steps_per_s=round(total_steps / m['seconds'], 3),
        steps_per_s_per_gpu=round(total_steps / m['seconds'] / gpus, 3),
        mean_batch_seconds=round(sum(m['batch_seconds']) / len(m['batch_seconds']), 2),
        bn_loss_last=m['bn_loss_last'],
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=50)
    p.add_argument('--batches-per-gpu', type=int, default=2)
    p.add_argument('--out', default='bench/gpu')
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print('gpu_dist: no CUDA GPU here; nothing to measure', file=sys.stderr)
        return 0
    model = load_torchvision('resnet18')[0]
    n = torch.cuda.device_count()
    with tempfile.TemporaryDirectory() as tmp:
        for gpus in sorted({1, n}):
            res = dict(
                model='torchvision resnet18, random weights',
                input='3x224x224',
                preset='paper',
                device_name=torch.cuda.get_device_name(0),
                visible_gpus=n,
                torch=str(torch.__version__),
                **rate(model, gpus, a.steps, a.batches_per_gpu, Path(tmp)),
                command='python bench/gpu_dist.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
            )
            out = Path(a.out) / f'dist_resnet18_{gpus}gpu.json'
            atomic_write_text(json.dumps(res, indent=1) + '\n', out)
            print(json.dumps(res), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
