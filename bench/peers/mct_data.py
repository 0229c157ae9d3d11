"""Calibration images for a bundled genie_nb model from Sony MCT's PyTorch data generation.

Runs in MCT's own virtual environment (bench/peers/make_mct_venv.sh), never in genie_nb's:

    /work/scratch/mct_venv/bin/python bench/peers/mct_data.py --model default --seed 0

It imports only genie_nb.core/genie_nb.models from this checkout (they need torch and torchvision alone)
through a namespace stub, so neither genie_nb's dependencies enter MCT's environment nor MCT enters
genie_nb's.

Settings: MCT's recommended PyTorch configuration, i.e. the defaults of `get_pytorch_data_generation_config`
(RAdam, initial lr 16, REDUCE_ON_PLATEAU_WITH_RESET, L2_SQUARE BN alignment with AVERAGE layer weighting,
NEGATIVE_MIN_MAX_DIFF output loss x 1e-5, Gaussian init, SMOOTHING_AND_AUGMENTATION pipeline with 32 extra
pixels, image clipping, AllImages granularity), except the budget, set to genie_nb's cpu preset:
`data_gen_batch_size=64` and `n_iter=200` (each of the 256/64 = 4 batches gets 200 optimisation steps; MCT's
defaults are 32 and 500).

Adapted, from the outside, because MCT's data generation is written for 3-channel images (NUM_INPUT_CHANNELS
= 3 in its initialisation, input statistics, valid-pixel grid and smoothing filter) and the bundled models
take 1x32x32:
- the model is wrapped so it reads channel 0 of MCT's 3-channel image; MCT's per-channel operations
  (Gaussian init, per-channel input mean/var prior, depthwise smoothing, per-channel clipping) keep channel
  0 independent of the other two except through the scalar total loss its plateau scheduler watches; channel
  0 is what is saved;
- MCT's TORCHVISION normalisation preset is replaced, for this process, by the bundled models' own input
  normalisation (mean 0.286*255, std 0.353*255 per channel), so clipping keeps pixels inside the real [0,
  255] range. Output: a plain float tensor (N, 1, 32, 32) in the model's normalised input space (torch.save
  of a tensor), which `genie-nb quantize --data FILE` reads as method 'file'; a JSON sidecar with the
  settings and seconds.
"""

import argparse
import importlib
import json
import os
import random
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]


def load_bundled(name: str):
    "genie_nb's bundled model without importing genie_nb's package (only core + models, torch-only modules)."
    if 'genie_nb' not in sys.modules:
        pkg = types.ModuleType('genie_nb')
        pkg.__path__ = [str(REPO / 'genie_nb')]
        sys.modules['genie_nb'] = pkg
    return importlib.import_module('genie_nb.models').load_bundled(name)


class FirstChannel(nn.Module):
    "Feed channel 0 of MCT's 3-channel image to a 1-channel model."

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x[:, :1])


def mct_generate(model, n, batch, iters, size, norm):
    "MCT's recommended PyTorch data generation at the given budget; (N, 3, H, W) images."
    import model_compression_toolkit as mct
    from model_compression_toolkit.data_generation.common import image_pipeline as ip
    from model_compression_toolkit.data_generation.common.enums import ImageNormalizationType

    mean, std = norm
    ip.image_normalization_dict[ImageNormalizationType.TORCHVISION] = [[mean * 255] * 3, [std * 255] * 3]
    cfg = mct.data_generation.get_pytorch_data_generation_config(n_iter=iters, data_gen_batch_size=batch)
    imgs = mct.data_generation.pytorch_data_generation_experimental(
        model=FirstChannel(model), n_images=n, output_image_size=size, data_generation_config=cfg
    )
    imgs = [t if t.dim() == 4 else t[None] for t in imgs]
    return torch.cat(imgs).detach().cpu().float(), cfg


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', default='default', choices=['default', 'mbv2'])
    p.add_argument('--n', type=int, default=256)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--iters', type=int, default=200)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=None, help='default bench/peers/data/mct_MODEL_seedK.pt')
    a = p.parse_args(argv)
    out = Path(a.out or REPO / 'bench/peers/data' / f'mct_{a.model}_seed{a.seed}.pt')
    if out.exists():
        raise SystemExit(f'{out} exists; remove it to regenerate')
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(a.threads)
    random.seed(a.seed)
    np.random.seed(a.seed)
    torch.manual_seed(a.seed)
    model, meta = load_bundled(a.model)
    norm = (meta['normalization']['mean'][0], meta['normalization']['std'][0])
    t0 = time.time()
    imgs, cfg = mct_generate(model.float().eval(), a.n, a.batch, a.iters, meta['input_shape'][1], norm)
    secs = time.time() - t0
    x = imgs[:, :1].contiguous()
    if not torch.isfinite(x).all():
        raise SystemExit('MCT produced non-finite images')
    tmp = out.with_suffix('.tmp')
    torch.save(x, tmp)
    os.replace(tmp, out)
    import model_compression_toolkit as mct

    info = dict(
        file=str(out.relative_to(REPO)) if out.is_relative_to(REPO) else str(out),
        model=a.model,
        n=len(x),
        shape=list(x.shape[1:]),
        batch=a.batch,
        n_iter=a.iters,
        seed=a.seed,
        seconds=round(secs, 1),
        threads=a.threads,
        mct=mct.__version__,
        torch=str(torch.__version__),
        config={k: str(v) for k, v in vars(cfg).items()},
        mean=round(x.mean().item(), 4),
        std=round(x.std().item(), 4),
    )
    out.with_suffix('.json').write_text(json.dumps(info, indent=1))
    print(json.dumps(info))


if __name__ == '__main__':
    main()
