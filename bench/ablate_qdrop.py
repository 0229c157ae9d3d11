"""QDrop ablation at W2A4, seed 0: which of QDrop's differences from Genie-M (no learned weight step, λ = 0.01, random
activation dropping) costs accuracy. Variants (each one change to QDrop): drop off (= AdaRound + learned activation steps),
λ = 1.0 (Genie-M's λ: Genie-M then differs only by its learned weight step), λ = 0.1 (QDrop's own MobileNetV2 value); and Genie-M with its weight step frozen (lr_w = 0).

Run from the repo root:
  python bench/ablate_qdrop.py                                  # ResNet-20, real 256 → bench/ablation/qdrop_w2a4_real256.json
  python bench/ablate_qdrop.py --model mbv2 --source genie --variants qdrop_lambda1,qdrop_lambda01,genie_fixedstep
"""

import argparse, json, time, torch
from pathlib import Path
from genie_nb import *
from genie_nb.core import atomic_write_text
from genie_nb.bench.grid import calibration_data
from genie_nb.recon import QuantConfig, quantize
from genie_nb.data import load_fmnist, TensorBatches
from genie_nb.evaluate import evaluate

VARIANTS = {
    'qdrop_drop0': dict(method='qdrop', drop_prob=0.0),
    'qdrop_lambda1': dict(method='qdrop', round_weight=1.0),
    'qdrop_lambda01': dict(method='qdrop', round_weight=0.1),
    'genie_fixedstep': dict(method='genie', lr_w=0.0),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', default='default', choices=['default', 'mbv2'])
    p.add_argument('--source', default='real')
    p.add_argument('--variants', default='qdrop_drop0,qdrop_lambda1')
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    m, _ = load_bundled(a.model)
    data = calibration_data(m, a.model, a.source, 256, 0, 'bench/cache', progress=False)
    out_path = (
        Path('bench/ablation')
        / f"qdrop_w2a4_{a.source}256{'' if a.model == 'default' else '_' + a.model}.json"
    )
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    xt, yt = load_fmnist('test')
    for v in a.variants.split(','):
        kw, name = VARIANTS[v], v
        if name in out:
            print(name, 'done:', out[name])
            continue
        cfg = QuantConfig.preset('cpu', w_bits=2, a_bits=4, seed=0, device='cpu', **kw)
        t0 = time.time()
        qm = quantize(m, data, cfg)
        out[name] = dict(
            top1=round(evaluate(qm, TensorBatches(xt, yt, 500))['top1'], 2),
            seconds=round(time.time() - t0, 1),
            **kw,
        )
        print(name, out[name], flush=True)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(out, indent=1) + '\n', out_path)


if __name__ == '__main__':
    main()
