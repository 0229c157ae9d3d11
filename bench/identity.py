"""Same code path, same bits: digests of every synthesis method and every PTQ method on both bundled models.

A refactoring that must not change any number is checked by running this before and after:

    python bench/identity.py --out bench/identity.json      # record
    python bench/identity.py --check bench/identity.json    # compare; exit 1 and name what differs

Everything runs in one thread (bit-identity holds only at one thread count) at tiny budgets (about 30 s)."""

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch

from genie_nb import QuantConfig, SynthConfig, load_bundled, quantize, synthesize
from genie_nb.core import atomic_write_text, set_threads

SOURCES = {
    'genie': dict(method='genie'),
    'zeroq': dict(method='zeroq', steps=6),
    'pixels': dict(method='pixels'),
    'gaussian': dict(method='gaussian'),
    'real': dict(method='real'),
    'genie-noswing': dict(method='genie', swing=False),
    'genie-latents': dict(method='genie', learn_generator=False),
    'genie-generator': dict(method='genie', learn_latents=False),
}
PTQ = ('rtn', 'adaround', 'brecq', 'qdrop', 'genie')


def digest(t: torch.Tensor) -> str:
    "First 16 hex digits of the sha256 of a tensor's bytes."
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:16]


def probe_images(shape) -> torch.Tensor:
    "A fixed batch of 16 images the quantized models are compared on."
    g = torch.Generator().manual_seed(1234)
    return torch.randn(16, *shape, generator=g)


def model_digests(name: str) -> dict:
    "Digests of the synthetic images of every source and of the logits of every PTQ method on one model."
    model, _ = load_bundled(name)
    out, x = {}, probe_images((1, 32, 32))
    datas = {}
    for src, kw in SOURCES.items():
        cfg = SynthConfig(**{'n': 8, 'batch': 4, 'steps': 3, 'seed': 0, **kw})
        datas[src] = synthesize(model, cfg)
        out[f'{name}/synth/{src}'] = digest(datas[src].images)
    for method in PTQ:
        qm = quantize(model, datas['genie'], QuantConfig(method=method, iters=4, recon_batch=4, seed=0))
        with torch.no_grad():
            out[f'{name}/quant/{method}/W4A4'] = digest(qm(x))
    qm = quantize(
        model, datas['real'], QuantConfig(method='genie', w_bits=2, a_bits=4, iters=4, recon_batch=4)
    )
    with torch.no_grad():
        out[f'{name}/quant/genie-real/W2A4'] = digest(qm(x))
    return out | export_digests(name, qm, x)


def export_digests(name: str, qm, x) -> dict:
    "Digest of the logits of the packed file reloaded (`save_quantized` → `load_quantized`)."
    from genie_nb.qmodel import load_quantized, save_quantized

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / 'm.qpt'
        save_quantized(qm, p)
        back = load_quantized(p)
    with torch.no_grad():
        return {f'{name}/export/qpt': digest(back(x))}


def mixed_digest() -> dict:
    "Digest of the widths chosen by the budget solver on MobileNetV2-small (proxy on synthetic images)."
    from genie_nb.mixed import BitPolicy

    model, _ = load_bundled('mbv2')
    data = synthesize(model, SynthConfig(n=8, batch=4, steps=3, seed=0))
    pol = BitPolicy.from_budget(model, data, w_bits=3.0, a_bits=4)
    return {'mbv2/mixed/policy': hashlib.sha256(repr(pol).encode()).hexdigest()[:16]}


def bench_import(name: str):
    "A name of the bench code, wherever this checkout keeps it (`genie_nb.bench` module or package)."
    import importlib

    for mod in ('genie_nb.bench.grid', 'genie_nb.bench.demo', 'genie_nb.bench'):
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(name)


def bench_digests() -> dict:
    "Digests of the grid row code (`run_row`) and of the demo (`run_demo`) at tiny budgets."
    from genie_nb.data import load_fmnist

    run_row, run_demo = bench_import('run_row'), bench_import('run_demo')
    xt, yt = load_fmnist('test')
    test = (xt[:500], yt[:500])
    out = {}
    with tempfile.TemporaryDirectory() as d:
        spec = dict(model='mbv2', source='genie', method='genie', bits='W2A4', seed=1)
        r = run_row(spec, Path(d) / 'cache', test=test, n=32, iters=4, synth_steps=3)
        out['bench/grid/row'] = hashlib.sha256(repr((r['top1'], r['delta'], r['n'])).encode()).hexdigest()[:16]
        res = run_demo(Path(d) / 'demo', n=32, steps=3, iters=4, n_real=32, progress=False, log=lambda s: None)
        tops = [(row['model'], row['top1']) for row in res['rows']]
        out['bench/demo/rows'] = hashlib.sha256(repr(tops).encode()).hexdigest()[:16]
    return out


def refuse_foreign(out: Path):
    "Exit 2 if `out` exists and is not a digest file this script wrote (it never overwrites anything else)."
    try:
        ours = not out.exists() or all('/' in k for k in json.loads(out.read_text()))
    except (ValueError, OSError, TypeError):
        ours = False
    if not ours:
        print(
            f'{out} exists and is not a digest file of bench/identity.py; choose another --out',
            file=sys.stderr,
        )
        sys.exit(2)


def all_digests() -> dict:
    set_threads(1)
    return model_digests('default') | model_digests('mbv2') | mixed_digest() | bench_digests()


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', help='write the digests here (JSON)')
    ap.add_argument('--check', help='compare with digests recorded earlier; exit 1 if any differs')
    a = ap.parse_args()
    if a.out:
        refuse_foreign(Path(a.out))
    now = all_digests()
    if a.out:
        atomic_write_text(json.dumps(now, indent=1) + '\n', a.out)
    if a.check:
        before = json.loads(Path(a.check).read_text())
        diff = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        print('identical' if not diff else 'DIFFERENT: ' + ', '.join(diff))
        sys.exit(1 if diff else 0)
    print(json.dumps(now, indent=1))
