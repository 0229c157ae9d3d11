"""Weight-range rule, Genie-M: per-channel ranges that include zero (the default) vs raw min/max (BRECQ).

python bench/weight_range.py --model mbv2 --source real --bits W2A4 --seed 0 [--rules zero,minmax]
Writes bench/ablation/weight_range_<model>_<source>_<bits>_s<seed>.json (one entry per rule, as measured).
"""

import argparse, json
from pathlib import Path
from genie_nb.core import Timer, atomic_write_text, set_threads
from genie_nb.models import load_bundled
from genie_nb.data import load_fmnist, TensorBatches
from genie_nb.evaluate import evaluate
from genie_nb.recon import QuantConfig, quantize
from genie_nb.bench.grid import calibration_data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='mbv2')
    ap.add_argument('--source', default='genie')
    ap.add_argument('--bits', default='W2A4')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--rules', default='minmax,zero')
    ap.add_argument('--cache', default='bench/cache')
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    set_threads(a.threads)
    model, _ = load_bundled(a.model)
    w, b = (int(v) for v in a.bits[1:].split('A'))
    data = calibration_data(model, a.model, a.source, 256, a.seed, a.cache)
    out = Path(f'bench/ablation/weight_range_{a.model}_{a.source}_{a.bits}_s{a.seed}.json')
    res = json.loads(out.read_text()) if out.exists() else {}
    xt, yt = load_fmnist('test')
    for rule in a.rules.split(','):
        if rule in res:
            continue
        cfg = QuantConfig.preset(
            'cpu', w_bits=w, a_bits=b, method='genie', seed=a.seed, device='cpu', weight_range=rule
        )
        with Timer() as t:
            qm = quantize(model, data, cfg)
        top1 = evaluate(qm, TensorBatches(xt, yt, 500))['top1']
        res[rule] = dict(top1=round(top1, 2), quant_seconds=round(t.s, 1), method='genie', n=len(data))
        atomic_write_text(json.dumps(res, indent=1) + '\n', out)
        print(rule, res[rule], flush=True)


if __name__ == '__main__':
    main()
