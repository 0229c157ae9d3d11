"QDrop ablation on ResNet-20, real 256 images, W2A4, seed 0: drop off (= AdaRound + learned act steps), and λ = 1.0. Run from the repo root: python bench/ablate_qdrop.py"
import json, sys, time, torch
torch.set_num_threads(1)
from genie_nb import *
from genie_nb.core import atomic_write_text
from genie_nb.bench import calibration_data
from genie_nb.recon import QuantConfig, quantize
from genie_nb.data import load_fmnist, TensorBatches
from genie_nb.evaluate import evaluate
m, _ = load_bundled('default'); data = calibration_data(m, 'default', 'real', 256, 0, 'bench/cache', progress=False)
xt, yt = load_fmnist('test'); out = {}
for name, kw in [('qdrop_drop0', dict(method='qdrop', drop_prob=0.0)), ('qdrop_lambda1', dict(method='qdrop', round_weight=1.0))]:
    cfg = QuantConfig.preset('cpu', w_bits=2, a_bits=4, seed=0, device='cpu', **kw); t0 = time.time()
    qm = quantize(m, data, cfg); out[name] = dict(top1=round(evaluate(qm, TensorBatches(xt, yt, 500))['top1'], 2), seconds=round(time.time() - t0, 1), **kw)
    print(name, out[name], flush=True)
atomic_write_text(json.dumps(out, indent=1) + '\n', 'bench/ablation/qdrop_w2a4_real256.json')
