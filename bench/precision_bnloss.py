"""The BN loss Genie-D reaches at the same steps in fp32, bf16 and auto (one cpu-preset batch per model).

    nice python bench/precision_bnloss.py --out bench/precision_bnloss.json

Same seed, same batch (64 images), same 200 steps; the loss history is the synthesizer's own ('bn_loss' in the
metadata). Reports the loss at steps 0, 50, 100, 150, 199, the mean over the last 20 steps (one step's loss
of one batch is noisy) and the relative difference of each to fp32's."""

import argparse
import json
import os
import sys

from genie_nb import SynthConfig, load_bundled, synthesize
from genie_nb.core import atomic_write_text, set_threads

AT = (0, 50, 100, 150, 199)


def history(model, precision, seed, steps) -> list:
    "The BN-loss history of one cpu-preset batch."
    cfg = SynthConfig.preset('cpu', n=64, batch=64, steps=steps, seed=seed, precision=precision)
    return synthesize(model, cfg).meta['bn_loss'][0]


def last20(h: list) -> float:
    "Mean BN loss over the last 20 steps."
    return sum(h[-20:]) / len(h[-20:])


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default='default,mbv2')
    ap.add_argument('--precisions', default='fp32,bf16,auto')
    ap.add_argument('--seeds', default='0')
    ap.add_argument('--steps', type=int, default=200)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    os.environ['GENIE_NB_THREADS'] = str(a.threads)
    set_threads(a.threads)
    res = dict(command='python bench/precision_bnloss.py ' + ' '.join(sys.argv[1:]), rows=[])
    at = [s for s in AT if s < a.steps] + ([a.steps - 1] if a.steps - 1 not in AT else [])
    for name in a.models.split(','):
        model, _ = load_bundled(name)
        for seed in map(int, a.seeds.split(',')):
            hs = {p: history(model, p, seed, a.steps) for p in a.precisions.split(',')}
            for p, h in hs.items():
                row = dict(model=name, seed=seed, precision=p, loss={s: h[s] for s in at}, last20=last20(h))
                if 'fp32' in hs:
                    row['rel_to_fp32'] = {s: h[s] / hs['fp32'][s] - 1 for s in at}
                    row['last20_rel_to_fp32'] = last20(h) / last20(hs['fp32']) - 1
                res['rows'].append(row)
                print(json.dumps(row), flush=True)
            if a.out:
                atomic_write_text(json.dumps(res, indent=1) + '\n', a.out)
