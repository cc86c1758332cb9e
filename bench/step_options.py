"""What do channels_last, foreach/fused SGD, cudnn.benchmark and torch.compile buy a training step? A benchmark.

One training step of the custom ResNet (`cifar_model('custom', width)`) on real CIFAR-10 batches (`load_batches`:
augmented and normalised by the project's pipeline, held in memory), with `torch.optim.SGD` (momentum 0.9, weight
decay of session 9), in the precision `cifar_learner` picks (fp32 on the CPU, bf16 autocast on a GPU). Each option is
one change against the plain default, on its own copy of the same initial weights:

- `channels_last`: the model and every input batch in channels-last memory format;
- `SGD foreach=True` and `SGD fused=True`: the optimizer's multi-tensor and fused implementations (the default,
  `foreach=None`, is the per-parameter loop on the CPU and foreach on a GPU);
- `cudnn.benchmark`: cuDNN picks the fastest convolution algorithms for the shapes it sees (CUDA only: n/a on the CPU);
- `torch.compile`: the model compiled by inductor; the first steps' time is its compile time.

All options are built and warmed up first; then they take turns, `--reps` times, `--steps` steps each, and the table
gives images/s (median and best of the reps, wall clock, and per CPU-second of this process) and the ratio of the
medians to the default's.

    python bench/step_options.py                          # widths 0.25 and 1, session 9's batch, on the CPU
    python bench/step_options.py --device cuda --steps 50 # on a GPU
"""
import argparse, os, statistics, time
import torch, torch.nn.functional as F
from fastai.vision.all import set_seed
from fastai_vs_torch import header, load_batches, sync
from resnet_eva.learner import cifar_model, _precision
from resnet_eva.recipes import settings
from resnet_eva.runs import device_name

def _why(e): return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"

def options(device):
    "Name -> (model in channels_last, SGD keywords, cudnn.benchmark, torch.compile), or the reason it does not apply"
    cuda = device.type=='cuda'
    return {'default': (False, {}, False, False),
            'channels_last': (True, {}, False, False),
            'SGD foreach=True': (False, dict(foreach=True), False, False),
            'SGD fused=True': (False, dict(fused=True), False, False),
            'cudnn.benchmark': (False, {}, True, False) if cuda else 'n/a: a CUDA-only setting',
            'torch.compile': (False, {}, False, True)}

class Step:
    "A model and its optimizer, from the weights `init`, taking training steps as option `opt` says"
    def __init__(self, arch, width, init, device, amp, opt):
        self.cl,sgd,self.benchmark,comp = opt
        m = cifar_model(arch, width).to(device); m.load_state_dict(init)
        if self.cl: m = m.to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=settings['wd'].value, **sgd)
        self.model = torch.compile(m) if comp else m
        self.model.train(); self.device,self.amp = device,amp

    def __call__(self, batches, steps):
        "Wall and CPU seconds of `steps` steps over `batches`"
        torch.backends.cudnn.benchmark = self.benchmark
        sync(self.device); w,c = time.perf_counter(),time.process_time()
        for i in range(steps):
            xb,yb = batches[i % len(batches)]
            if self.cl: xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None):
                loss = F.cross_entropy(self.model(xb), yb)
            loss.backward(); self.opt.step(); self.opt.zero_grad()
        sync(self.device)
        return time.perf_counter()-w, time.process_time()-c

def measure(arch='custom', width=0.25, bs=settings['bs'].value, steps=5, batches=4, reps=5, warmup=2, device='cpu', data=None,
            only=None, say=print):
    "Images/s of a training step under each of `options` (or those named in `only`), alternated `reps` times"
    device = torch.device(device)
    prec = _precision('auto', device)
    amp = dict(bf16=torch.bfloat16, fp16=torch.float16).get(prec)
    set_seed(0)
    bb = [tuple(o.to(device) for o in b) for b in load_batches(bs, batches, device, data)]
    init = cifar_model(arch, width).state_dict()
    say(f"\n{arch} width {width}, batch {bs}, {prec}, {device_name(device)}: {warmup} warm-up steps, then {reps} reps "
        f"of {steps} steps each, options in turn; load average {os.getloadavg()[0]:.2f}")
    res,steppers = {},{}
    for name,opt in options(device).items():
        if only and name!='default' and name not in only: continue
        if isinstance(opt, str): res[name] = dict(skipped=opt); continue
        try:
            s = Step(arch, width, init, device, amp, opt)
            first = [s(bb, 1)[0] for _ in range(warmup)]
        except Exception as e:
            res[name] = dict(skipped=f"failed: {_why(e)}"); say(f"  {name}: {res[name]['skipped']}"); continue
        steppers[name],res[name] = s,dict(first_steps_s=first, wall=[], cpu=[])
        say(f"  {name}: warm-up steps {', '.join(f'{t:.2f}' for t in first)} s")
    for i in range(reps):
        for name,s in steppers.items():
            w,c = s(bb, steps)
            res[name]['wall'].append(steps*bs/w); res[name]['cpu'].append(steps*bs/c)
        say(f"  rep {i+1}: " + ', '.join(f"{n} {res[n]['wall'][-1]:.0f}" for n in steppers) + " images/s")
    torch.backends.cudnn.benchmark = False
    for r in res.values():
        if 'wall' in r: r |= {f'{m}_{k}': f(r[m]) for m in ('wall','cpu') for k,f in (('median', statistics.median),
                                                                                        ('best', max))}
    base = res['default']
    say(f"{'option':18} {'images/s median':>15} {'best':>7} {'ratio':>6} {'per CPU-s':>10} {'ratio':>6} "
        f"{'first step':>10}")
    for name,r in res.items():
        if 'skipped' in r: say(f"{name:18} {r['skipped']}"); continue
        r['ratio'],r['ratio_cpu'] = r['wall_median']/base['wall_median'],r['cpu_median']/base['cpu_median']
        say(f"{name:18} {r['wall_median']:15.1f} {r['wall_best']:7.1f} {r['ratio']:6.3f} {r['cpu_median']:10.1f} "
            f"{r['ratio_cpu']:6.3f} {r['first_steps_s'][0]:9.2f}s")
    return dict(arch=arch, width=width, bs=bs, steps=steps, reps=reps, precision=prec, device=device_name(device),
                options=res)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='custom')
    p.add_argument('--widths', type=float, nargs='+', default=[0.25, 1])
    p.add_argument('--bs', type=int, default=settings['bs'].value)
    p.add_argument('--steps', type=int, nargs='+', default=[3, 1], help='steps a rep, for each width')
    p.add_argument('--reps', type=int, nargs='+', default=[5, 3], help='reps, for each width')
    p.add_argument('--batches', type=int, default=4, help='distinct in-memory batches the steps cycle over')
    p.add_argument('--warmup', type=int, default=2, help='steps before timing; torch.compile compiles in the first')
    p.add_argument('--device', default='cpu')
    p.add_argument('--options', nargs='+', default=None, help="only these options (and 'default'); default: all")
    p.add_argument('--data', default=None, help='CIFAR-10 folder or .tgz; default: untar_data(URLs.CIFAR)')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (torch.set_num_threads)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(header(a.device), flush=True)
    say = lambda s: print(s, flush=True)
    for i,w in enumerate(a.widths):
        measure(a.arch, w, a.bs, a.steps[min(i, len(a.steps)-1)], a.batches, a.reps[min(i, len(a.reps)-1)], a.warmup,
                a.device, a.data, a.options, say=say)
    print(f"\nload average at the end: {' '.join(f'{o:.2f}' for o in os.getloadavg())}")

if __name__ == '__main__': main()
