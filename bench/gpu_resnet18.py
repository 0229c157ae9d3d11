"""Steps per second of Genie-D synthesis and Genie-M reconstruction on a torchvision ResNet-18 at 224×224 (random
weights, small budget), on CPU and, when one is present, on CUDA. The prepared GPU script of issue 5.

Run from the repo root:  python bench/gpu_resnet18.py [--devices cpu,cuda] [--threads T] [--batch 32] [--steps 10] [--iters 20]
                                 [--precisions fp32,bf16,fp16]
Writes bench/gpu/resnet18_<device>.json, one file per device (a device that is absent is reported and skipped).
The precision axis: every precision the device accepts (`genie_nb.precision.resolve_precision`: fp16 on CUDA
only, bf16 where native) is timed, synthesis and reconstruction, on the same calibration images; `synth` and
`recon` at the top level are the first precision's (fp32 by default), `precisions` holds them all with the
speed-up over fp32.
"""

import argparse, json, platform, sys, time
from pathlib import Path
import torch
from genie_nb.core import atomic_write_text, seed_everything, GenieError
from genie_nb.models import load_torchvision
from genie_nb.synth import SynthConfig, synthesize
from genie_nb.recon import QuantConfig, quantize
from genie_nb.precision import resolve_precision


def _sync(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def synth_rate(model, device, batch, steps, warmup=2, precision='fp32') -> dict:
    "Genie-D steps/s: time `steps` steps after `warmup` steps, from the synthesizer's own 'step' events."
    times = []

    def on_event(ev):
        if ev['kind'] == 'step':
            _sync(device)
            times.append(time.perf_counter())

    cfg = SynthConfig(
        n=batch,
        batch=batch,
        steps=steps + warmup,
        method='genie',
        device=device,
        input_shape=(3, 224, 224),
        precision=precision,
    )
    t0 = time.perf_counter()
    data = synthesize(model, cfg, on_event=on_event)
    total = time.perf_counter() - t0
    timed = times[warmup:] if len(times) > warmup else times
    per_step = (timed[-1] - timed[0]) / max(len(timed) - 1, 1) if len(timed) > 1 else total / cfg.steps
    return dict(
        batch=batch,
        steps=cfg.steps,
        seconds=round(total, 2),
        step_s=round(per_step, 4),
        steps_per_s=round(1 / per_step, 3),
        step_events=len(times),
    ), data


def recon_rate(model, data, device, iters, batch, precision='fp32') -> dict:
    "Genie-M W4A4 over the whole model: optimisation steps/s (each unit's own step time, warm-up steps excluded) and end-to-end seconds."
    cfg = QuantConfig(
        w_bits=4,
        a_bits=4,
        method='genie',
        iters=iters,
        recon_batch=batch,
        eval_samples=batch,
        device=device,
        cache_device=device,
        precision=precision,
    )
    units = {}

    def on_event(ev):
        if ev['kind'] == 'done':
            units.update(ev['units'])

    _sync(device)
    t0 = time.perf_counter()
    quantize(model, data, cfg, on_event=on_event)
    _sync(device)
    s = time.perf_counter() - t0
    step_s = [u['step_seconds'] for u in units.values() if u.get('step_seconds')]
    return dict(
        iters_per_unit=iters,
        units=len(units),
        recon_batch=batch,
        seconds=round(s, 2),
        mean_step_s=round(sum(step_s) / len(step_s), 4),
        steps_per_s=round(len(step_s) / sum(step_s), 3),
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--devices', default='cpu,cuda')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--precisions', default='fp32,bf16,fp16', help='compute precisions to time (fp32 first)')
    p.add_argument('--out', default='bench/gpu')
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    for device in a.devices.split(','):
        if device == 'cuda' and not torch.cuda.is_available():
            print('cuda: no GPU here, skipped', file=sys.stderr)
            continue
        model = load_torchvision('resnet18')[0]
        runs, data = {}, None
        for prec in a.precisions.split(','):
            try:
                resolve_precision(prec, device)
            except GenieError as e:
                print(f'{device} {prec}: skipped ({e})', file=sys.stderr)
                continue
            seed_everything(0)
            s, d = synth_rate(model, device, a.batch, a.steps, precision=prec)
            data = d if data is None else data  # every precision reconstructs on the same images
            runs[prec] = dict(synth=s, recon=recon_rate(model, data, device, a.iters, a.batch, prec))
        if not runs:
            continue
        for prec, r in runs.items():
            if 'fp32' in runs:
                fp = runs['fp32']
                r['synth_speedup'] = round(fp['synth']['step_s'] / r['synth']['step_s'], 3)
                r['recon_speedup'] = round(fp['recon']['mean_step_s'] / r['recon']['mean_step_s'], 3)
        first = next(iter(runs.values()))
        s, r = first['synth'], first['recon']
        res = dict(
            model='torchvision resnet18, random weights',
            input='3x224x224',
            device=device,
            device_name=torch.cuda.get_device_name()
            if device == 'cuda'
            else platform.processor() or platform.machine(),
            threads=torch.get_num_threads(),
            torch=torch.__version__,
            synth=s,
            recon=r,
            precisions=runs,
            command='python bench/gpu_resnet18.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
        )
        if device == 'cuda':
            res['peak_gpu_mib'] = round(torch.cuda.max_memory_allocated() / 2**20)
        out = Path(a.out) / f'resnet18_{device}.json'
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(res, indent=1) + '\n', out)
        print(json.dumps(res), flush=True)


if __name__ == '__main__':
    main()
