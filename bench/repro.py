"""What is bit-identical: the same synthesis + quantization run twice at each thread count, compared byte for byte.

python bench/repro.py [--out bench/repro.json]"""
import argparse, json, platform, subprocess, sys
from genie_nb.core import atomic_write_text

CHILD = r'''
import hashlib, json, sys, torch
from genie_nb import load_bundled, synthesize, SynthConfig, quantize, QuantConfig, fmnist_loader, evaluate
from genie_nb.core import set_threads
set_threads(int(sys.argv[1]))
model, _ = load_bundled('default')
data = synthesize(model, SynthConfig(n=64, batch=32, steps=30, seed=0))
qm = quantize(model, data, QuantConfig(method='genie', iters=20, seed=0))
x = next(iter(fmnist_loader('test', batch_size=1000)))[0]
with torch.no_grad():
    logits = qm(x)
h = lambda t: hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:16]
top1 = evaluate(qm, fmnist_loader('test', batch_size=500, limit=2000))['top1']
print(json.dumps(dict(threads=int(sys.argv[1]), images=h(data.images), logits=h(logits), top1_2000=top1)))
'''


def run(threads: int) -> dict:
    r = subprocess.run([sys.executable, '-c', CHILD, str(threads)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='bench/repro.json')
    a = ap.parse_args()
    runs = [run(t) for t in (1, 1, 2, 2)]
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
    res = dict(cpu=cpu, machine=platform.machine(), runs=runs, command='python bench/repro.py')
    atomic_write_text(json.dumps(res, indent=1) + "\n", a.out)
    print(json.dumps(res, indent=1))
