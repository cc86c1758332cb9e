"""How much does the fastai `Learner` cost? A benchmark, not a test.

Trains the same network from the same weights on the same in-memory batches for the same number of steps,
twice: through the project's fastai `Learner` (`cifar_learner` + `fit_course`, i.e. fastai's one-cycle with its
callbacks: Recorder, ParamScheduler, ...) and through a plain PyTorch loop with the same optimizer
(`torch.optim.SGD`, momentum, L2 weight decay), the same one-cycle schedule (`OneCycleLR`) and the precision the
`Learner` chose (fp32 on the CPU, bf16 mixed on a GPU). Validation is skipped in both. The two paths alternate
`--reps` times; the median and the best of each are reported, in wall-clock images/s and in images per CPU-second
of this process (on a shared machine the best, and the CPU time, are the least disturbed by other processes).
`compare` does it all and returns the figures; `bench/gpu_runs.py` calls it on the GPU.

    python bench/fastai_vs_torch.py                       # custom ResNet at width 0.25, batch 512, on the CPU
    python bench/fastai_vs_torch.py --width 1 --steps 10  # the course's network
"""
import argparse, math, os, statistics, time
import torch, torch.nn.functional as F
from fastai.vision.all import Callback, CancelValidException, DataLoaders, Tensor, set_seed
from resnet_eva.data import cifar_dls
from resnet_eva.learner import cifar_learner, cifar_model
from resnet_eva.runs import device_name

class Cycle:
    "`steps` batches, cycling over `batches`: an in-memory stand-in for a DataLoader"
    def __init__(self, batches, steps): self.batches,self.steps = batches,steps
    def __len__(self): return self.steps
    def __iter__(self): return (self.batches[i % len(self.batches)] for i in range(self.steps))

class NoValidation(Callback):
    def before_validate(self): raise CancelValidException

def load_batches(bs, n, device, data=None):
    "`n` real CIFAR-10 training batches, augmented and normalised by the project's pipeline, as plain tensors"
    dls = cifar_dls(data, bs=bs, n_per_class=math.ceil(bs*n/10), num_workers=0, device=device)
    it = iter(dls.train)
    return [tuple(o.as_subclass(Tensor) for o in next(it)) for _ in range(n)]

def sync(device):
    if device.type=='cuda': torch.cuda.synchronize()

def plain_loop(model, batches, steps, lr_max, div, wd, precision, device):
    "The course's training loop, without fastai; `precision` as `cifar_learner` chose it"
    amp = dict(bf16=torch.bfloat16, fp16=torch.float16).get(precision)  # fp16 would also need fastai's GradScaler
    t = time.perf_counter()
    opt = torch.optim.SGD(model.parameters(), lr=lr_max/div, momentum=0.9, weight_decay=wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr_max, total_steps=steps, pct_start=5/24, div_factor=div,
                                                final_div_factor=1, base_momentum=0.85, max_momentum=0.95)
    model.train()
    for xb,yb in Cycle(batches, steps):
        if device.type=='cuda': xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = F.cross_entropy(model(xb), yb)
        loss.backward(); opt.step(); opt.zero_grad(); sched.step()
    sync(device)
    return time.perf_counter()-t

def fastai_fit(learn, batches, steps, lr_max, div, device):
    "The same steps through the project's `Learner`"
    learn.dls = DataLoaders(Cycle(batches, steps), [])
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit_course(1, lr_max, div, cbs=NoValidation())
    sync(device)
    return time.perf_counter()-t

def compare(arch='custom', width=0.25, bs=512, steps=20, batches=4, reps=5, warmup=2, lr_max=0.05, div=10.,
            device=None, data=None, say=print):
    "Alternate the plain loop and the `Learner` `reps` times on the same batches; images/s of each and their ratios"
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    set_seed(0)
    bb = [tuple(o.to(device) for o in b) for b in load_batches(bs, batches, device, data)]
    init = cifar_model(arch, width).state_dict()
    learn = cifar_learner(DataLoaders(Cycle(bb, 1), []), arch, width)
    def new_plain():
        m = cifar_model(arch, width).to(device); m.load_state_dict(init)
        return m.to(memory_format=torch.channels_last) if device.type=='cuda' else m
    def run_fastai(n):
        learn.model.load_state_dict(init); learn.opt = None  # fresh weights and optimizer, as the plain loop gets
        return fastai_fit(learn, bb, n, lr_max, div, device)
    run_plain = lambda n: plain_loop(new_plain(), bb, n, lr_max, div, 5e-4, learn.precision, device)
    r = dict(arch=arch, width=width, bs=bs, steps=steps, batches=batches, reps=reps, precision=learn.precision,
             device=device_name(device), load_avg=os.getloadavg()[0])
    say(f"{arch} width {width}, batch {bs}, {steps} steps over {batches} in-memory batches, {learn.precision}; "
        f"{r['device']}; load average {r['load_avg']:.1f}")
    run_plain(warmup); run_fastai(warmup)
    res = {k: dict(wall=[], cpu=[]) for k in ('plain', 'fastai')}
    for i in range(reps):
        for name,f in (('plain', run_plain), ('fastai', run_fastai)):
            c = time.process_time(); w = f(steps); c = time.process_time()-c
            res[name]['wall'].append(steps*bs/w); res[name]['cpu'].append(steps*bs/c)
            say(f"  rep {i+1:2} {name:6}: {res[name]['wall'][-1]:8.1f} images/s, "
                f"{res[name]['cpu'][-1]:8.1f} images per CPU-second")
    for m,unit in (('wall', 'images/s'), ('cpu', 'images per CPU-second')):
        med,best = ({k: f(v[m]) for k,v in res.items()} for f in (statistics.median, max))
        r[m] = dict(plain_median=med['plain'], fastai_median=med['fastai'], ratio_median=med['fastai']/med['plain'],
                    ratio_best=best['fastai']/best['plain'])
        say(f"{unit}: plain {med['plain']:.1f} median / {best['plain']:.1f} best; "
            f"fastai {med['fastai']:.1f} / {best['fastai']:.1f}; "
            f"ratio fastai/plain {r[m]['ratio_median']:.3f} (medians), {r[m]['ratio_best']:.3f} (bests)")
    r['fastai_time_over_plain'] = 1/r['wall']['ratio_median']  # the GPU issue's ratio: time, target <= 1.10
    return r

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='custom'); p.add_argument('--width', type=float, default=0.25)
    p.add_argument('--bs', type=int, default=512); p.add_argument('--steps', type=int, default=20)
    p.add_argument('--batches', type=int, default=4, help='distinct in-memory batches the steps cycle over')
    p.add_argument('--reps', type=int, default=5); p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--lr-max', type=float, default=0.05); p.add_argument('--div', type=float, default=10)
    p.add_argument('--device', default=None, help="default: 'cuda' if there is a GPU, else 'cpu'")
    p.add_argument('--data', default=None, help='CIFAR-10 folder or .tgz; default: untar_data(URLs.CIFAR)')
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads; default: torch\'s')
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    compare(a.arch, a.width, a.bs, a.steps, a.batches, a.reps, a.warmup, a.lr_max, a.div, a.device, a.data,
            say=lambda s: print(s, flush=True))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")

if __name__ == '__main__': main()
