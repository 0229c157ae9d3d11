"""Which zero-shot sensitivity proxy ranks layers like the real top-1 drop? Writes bench/mixed_proxies.json.

Proxies on N Genie-D images (`cpu` preset, seed 0: the benchmark's cached calibration set, made if missing),
ground truth on the first T Fashion-MNIST test images. Usage:
    python bench/mixed_proxies.py --models mbv2,default --n 64 --test 2000
"""

import argparse, json, time
from pathlib import Path
from genie_nb.core import atomic_write_text, set_threads
from genie_nb.models import load_bundled
from genie_nb.data import load_fmnist
from genie_nb.bench.grid import calibration_data
from genie_nb.mixed import sensitivity_table, single_layer_drops, proxy_correlations

ap = argparse.ArgumentParser()
ap.add_argument('--models', default='mbv2,default')
ap.add_argument('--n', type=int, default=64)
ap.add_argument('--test', type=int, default=2000)
ap.add_argument('--out', default='bench/mixed_proxies.json')
a = ap.parse_args()
set_threads(1)
out = Path(a.out)
study = json.loads(out.read_text()) if out.exists() else {}
xt, yt = load_fmnist('test')
for name in a.models.split(','):
    model, _ = load_bundled(name)
    syn = calibration_data(model, name, 'genie', a.n, 0, 'bench/cache', progress=False)
    x = syn.images
    t0 = time.perf_counter()
    sens = sensitivity_table(model, x)
    t1 = time.perf_counter()
    drops = single_layer_drops(model, (xt[: a.test], yt[: a.test]), x)
    study[name] = dict(
        n_synthetic=len(x),
        synthetic='Genie-D, cpu preset (200 steps), seed 0',
        n_test=a.test,
        sens_seconds=round(t1 - t0, 1),
        drops_seconds=round(time.perf_counter() - t1, 1),
        correlations=proxy_correlations(sens, drops).round(4).to_dict(),
        table=sens.merge(drops, on=['layer', 'w_bits']).round(6).to_dict('records'),
    )
    atomic_write_text(json.dumps(study, indent=1) + '\n', out)
    print(name, json.dumps(study[name]['correlations']), flush=True)
