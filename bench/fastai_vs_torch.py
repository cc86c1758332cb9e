"""How much does the fastai `Learner` cost? A benchmark, not a test.

Trains the same network from the same weights on the same in-memory batches for the same number of steps,
twice: through the project's fastai `Learner` (`cifar_learner` + `fit_course`, i.e. fastai's one-cycle with its
callbacks: Recorder, ParamScheduler, ...) and through a plain PyTorch loop with the same optimizer
(`torch.optim.SGD`, momentum, L2 weight decay), the same one-cycle schedule (`OneCycleLR`) and the precision the
`Learner` chose (fp32 on the CPU, bf16 mixed on a GPU). Validation is skipped in both. The two paths alternate
`--reps` times; the median and the best of each are reported, in wall-clock images/s and in images per CPU-second
of this process (on a shared machine the best, and the CPU time, are the least disturbed by other processes).
`compare` does it all and returns the figures; `bench/gpu_runs.py` calls it on the GPU.

    python bench/fastai_vs_torch.py                       # custom ResNet at width 0.25, session 9's batch, on the CPU
    python bench/fastai_vs_torch.py --width 1 --steps 10  # the course's network

`--overhead` times the whole of `resnet_eva.runs.train` instead (session 9 with a fixed lr_max, so no LR finder; the
device-resident `DataLoaders`; its run records and checkpoint): `PhaseTimes` (a callback passed with `cbs=`) times
each epoch's training phase, validation phase and the rest, and `plain_train` does the same work in a plain loop on
the same uint8 tensors: its own pad-crop/flip/cutout/normalise (`plain_augment`), `OneCycleLR` in fastai's shape,
cross-entropy, validation loss and accuracy each epoch, the training loss kept on the device. Both run the same steps
from the same settings, alternating `--reps` times; `overhead` reports µs per training step and per validation batch
and the ratio train()/plain (target ≤ 1.10), in two regimes (`REGIMES`): width 1/16 at batch 64, where the step is
short enough for the framework's per-step cost to show, and the course's width 1 at session 9's batch size.

    python bench/fastai_vs_torch.py --overhead --threads 1           # both regimes
    python bench/fastai_vs_torch.py --overhead --profile --width 0.0625  # cProfile of one train() run
"""
import argparse, math, os, platform, shlex, statistics, subprocess, sys, time
from pathlib import Path
import torch, torch.nn.functional as F
import fastai
from fastai.vision.all import Callback, CancelValidException, DataLoaders, Tensor, cifar_stats, ifnone, set_seed
from resnet_eva.data import cifar_dls
from resnet_eva.learner import cifar_learner, cifar_model
from resnet_eva.recipes import cycle_divs, get_recipe, recipes
from resnet_eva.runs import device_name

REPO = Path(__file__).resolve().parent.parent
S9 = recipes['session9']  # every number of the course's recipe

def _git(*args):
    r = subprocess.run(['git', '--no-optional-locks', *args], cwd=REPO, capture_output=True, text=True)
    return r.stdout.rstrip() if r.returncode==0 else ''

def header(device='cpu'):
    "A record's first lines: date (UTC), commit, versions, machine, threads, load average, and this command"
    changed = [l[3:] for l in _git('status', '--porcelain', '--', 'bench', 'resnet_eva', 'nbs').splitlines()]
    commit = _git('rev-parse', '--short', 'HEAD').strip() or '?'
    if changed: commit += f" + uncommitted {' '.join(changed)}"
    env = ' '.join(f'{k}={os.environ[k]}' for k in ('OMP_NUM_THREADS', 'CUDA_VISIBLE_DEVICES') if k in os.environ)
    return (f"# {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, commit {commit}, "
            f"python {platform.python_version()}, torch {torch.__version__}, fastai {fastai.__version__}, "
            f"{device_name(torch.device(device))} ({os.cpu_count()} CPUs), "
            f"load average {' '.join(f'{o:.2f}' for o in os.getloadavg())}\n"
            f"$ {env+' ' if env else ''}python {' '.join(shlex.quote(a) for a in sys.argv)}")

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
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr_max, total_steps=steps, pct_start=S9['pct_start'], div_factor=div,
                                                final_div_factor=1, base_momentum=0.85, max_momentum=0.95)
    model.train()
    for xb,yb in Cycle(batches, steps):
        xb = xb.contiguous(memory_format=torch.channels_last)  # as fastai's ChannelsLast, on every device
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

def compare(arch='custom', width=0.25, bs=S9['bs'], steps=20, batches=4, reps=5, warmup=2, lr_max=0.05, div=10.,
            device=None, data=None, say=print):
    "Alternate the plain loop and the `Learner` `reps` times on the same batches; images/s of each and their ratios"
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    set_seed(0)
    bb = [tuple(o.to(device) for o in b) for b in load_batches(bs, batches, device, data)]
    init = cifar_model(arch, width).state_dict()
    learn = cifar_learner(DataLoaders(Cycle(bb, 1), []), arch, width)
    def new_plain():
        m = cifar_model(arch, width).to(device); m.load_state_dict(init)
        return m.to(memory_format=torch.channels_last)
    def run_fastai(n):
        learn.model.load_state_dict(init); learn.opt = None  # fresh weights and optimizer, as the plain loop gets
        return fastai_fit(learn, bb, n, lr_max, div, device)
    run_plain = lambda n: plain_loop(new_plain(), bb, n, lr_max, div, S9['wd'], learn.precision, device)
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

class PhaseTimes(Callback):
    "Wall and CPU seconds of each epoch's training phase, validation phase and the rest, with their batches"
    order = 100  # after the other callbacks: `after_epoch` then includes the run's records and checkpoint
    def __init__(self, device): self.device,self.times = device,[]
    def _now(self): sync(self.device); return time.perf_counter(),time.process_time()
    def before_epoch(self): self.t_epoch = self._now()
    def before_train(self): self.t0,self.nb = self._now(),0
    def before_validate(self): self.t0,self.nb = self._now(),0
    def after_batch(self): self.nb += 1
    def after_train(self): self._add('train', self.t0)
    def after_validate(self): self._add('valid', self.t0)
    def after_epoch(self): self._add('epoch', self.t_epoch)
    def _add(self, phase, t0):
        w,c = self._now()
        self.times.append(dict(epoch=self.epoch, phase=phase, wall=w-t0[0], cpu=c-t0[1],
                               n=self.nb if phase!='epoch' else 0))

def project_train(out, data, device, cbs, **overrides):
    "`resnet_eva.runs.train` of session 9 with `overrides`, on the device-resident `DataLoaders`"
    from resnet_eva.runs import train
    return train(out, 'session9', data=data, num_workers=0, progress=False, cbs=cbs, on_device=True, **overrides)

def plain_augment(x, mean, std, pad=S9['pad'], cutout=S9['cutout']):
    "Pad with zeros and crop back at a random offset, flip half, fill one `cutout` square with `mean`, normalise"
    b,c,h,w = x.shape
    xp = F.pad(x, (pad,)*4)
    dy,dx,y0,x0 = (torch.randint(0, n, (b,), device=x.device) for n in (2*pad+1, 2*pad+1, h-cutout+1, w-cutout+1))
    r,k = torch.arange(h, device=x.device),torch.arange(w, device=x.device)
    x = xp.gather(2, (dy[:,None]+r)[:,None,:,None].expand(b, c, h, w+2*pad))
    x = x.gather(3, (dx[:,None]+k)[:,None,None,:].expand(b, c, h, w))
    x = torch.where(torch.rand(b, 1, 1, 1, device=x.device) < 0.5, x.flip(3), x)
    rows,cols = (r>=y0[:,None]) & (r<y0[:,None]+cutout),(k>=x0[:,None]) & (k<x0[:,None]+cutout)
    inside = rows[:,None,:,None] & cols[:,None,None,:]
    return (torch.where(inside, mean, x)-mean)/std

def plain_train(images, labels, tpos, vpos, arch, width, bs, epochs, lr_max, div, div_final, pct_start, wd, cutout,
                stats, device, amp=None, pad=S9['pad']):
    "Train and validate as `train` does, in a plain PyTorch loop; per-epoch times, as `PhaseTimes` gives them"
    model = cifar_model(arch, width).to(device)
    model = model.to(memory_format=torch.channels_last)  # as cifar_learner, on every device
    steps = len(tpos)//bs  # drop_last, as fastai's training DataLoader
    opt = torch.optim.SGD(model.parameters(), lr=lr_max/div, momentum=0.9, weight_decay=wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr_max, total_steps=epochs*steps, pct_start=pct_start,
                                                div_factor=div, final_div_factor=div_final/div, base_momentum=0.85,
                                                max_momentum=0.95)
    mean,std = (torch.tensor(s, device=device).view(1,-1,1,1) for s in stats)
    now = lambda: (sync(device), time.perf_counter(), time.process_time())[1:]
    def inputs(idx, train):
        x = images[idx].float().div_(255)
        x = plain_augment(x, mean, std, pad, cutout) if train else (x-mean)/std
        return x.contiguous(memory_format=torch.channels_last)
    times,hist = [],[]
    for epoch in range(epochs):
        te = t0 = now()
        model.train()
        perm,tot = tpos[torch.randperm(len(tpos), device=device)],torch.zeros((), device=device)
        for i in range(steps):
            idx = perm[i*bs:(i+1)*bs]
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = F.cross_entropy(model(inputs(idx, True)), labels[idx])
            loss.backward(); opt.step(); opt.zero_grad(); sched.step()
            tot += loss.detach()
        t1 = now(); times.append(dict(epoch=epoch, phase='train', wall=t1[0]-t0[0], cpu=t1[1]-t0[1], n=steps))
        model.eval()
        vloss,correct,t0 = torch.zeros((), device=device),torch.zeros((), device=device, dtype=torch.long),now()
        with torch.no_grad():
            for idx in vpos.split(2*bs):  # the project validates at twice the batch (`cifar_dls`' val_bs)
                y = labels[idx]
                with torch.autocast(device.type, dtype=amp, enabled=amp is not None): out = model(inputs(idx, False))
                vloss += F.cross_entropy(out.float(), y, reduction='sum'); correct += (out.argmax(1)==y).sum()
        hist.append(dict(train_loss=(tot/steps).item(), valid_loss=vloss.item()/len(vpos),
                         accuracy=correct.item()/len(vpos)))
        t1 = now(); times.append(dict(epoch=epoch, phase='valid', wall=t1[0]-t0[0], cpu=t1[1]-t0[1],
                                      n=math.ceil(len(vpos)/(2*bs))))
        t1 = now(); times.append(dict(epoch=epoch, phase='epoch', wall=t1[0]-te[0], cpu=t1[1]-te[1], n=0))
    return times,hist

def _per(times, phase, skip, key):
    "Seconds per batch (per epoch for 'epoch') of `phase` over the epochs after the first `skip`"
    ts = [t for t in times if t['phase']==phase and t['epoch']>=skip]
    return sum(t[key] for t in ts)/(sum(t['n'] for t in ts) if phase!='epoch' else len(ts))

def _rest(times, skip):
    "Seconds per epoch outside the training and validation phases (records, checkpoint, scheduling)"
    ts = [t for t in times if t['epoch']>=skip]
    n = sum(t['phase']=='epoch' for t in ts)
    return sum(t['wall']*(1 if t['phase']=='epoch' else -1) for t in ts)/max(1, n)

def overhead(width=0.0625, bs=64, n_per_class=320, epochs=3, skip=1, reps=5, lr_max=0.05, div=10., device='cpu',
             data=None, say=print, arch='custom'):
    "Per-step time of `train` (session 9) against a plain PyTorch loop doing the same work, alternated `reps` times"
    import tempfile
    device = torch.device(device)
    cfg = get_recipe('session9', width=width, bs=bs, n_per_class=n_per_class, epochs=epochs, lr_max=lr_max, div=div,
                     arch=arch)
    over = {k: cfg[k] for k in ('arch','width','bs','n_per_class','epochs','lr_max','div')}
    dls = cifar_dls(data, bs=bs, n_per_class=n_per_class, num_workers=0, device=device, on_device=True)
    images,labels,tpos,vpos = dls.train.images,dls.train.labels,dls.train.pos,dls.valid.pos
    prec = cifar_learner(dls, cfg['arch'], width).precision
    amp = dict(bf16=torch.bfloat16, fp16=torch.float16).get(prec)
    nm = '' if arch=='custom' else f" with arch {getattr(arch, '__name__', arch)}"
    say(f"\nsession9{nm} at width {width}, batch {bs}, {epochs} epochs of {len(tpos)//bs} steps ({len(tpos)} training "
        f"images) and {math.ceil(len(vpos)/(2*bs))} validation batches, {prec}; timing epochs {skip+1}-{epochs}; "
        f"{device_name(device)}; load average {os.getloadavg()[0]:.2f}\nproject side: resnet_eva.runs.train(on_device=True)")
    res = {k: dict(train=[], train_cpu=[], valid=[], epoch_rest=[], total=[], acc=[]) for k in ('project','plain')}
    def run_project():
        with tempfile.TemporaryDirectory() as d:
            pt = PhaseTimes(device); t = time.perf_counter()
            learn = project_train(Path(d)/'run', data, device, [pt], **over)
            return pt.times, time.perf_counter()-t, float(learn.recorder.values[-1][-1])
    def run_plain():
        set_seed(cfg['seed'])
        t = time.perf_counter()
        times,hist = plain_train(images, labels, tpos, vpos, cfg['arch'], width, bs, epochs, lr_max,
                                 *cycle_divs(div, cfg['annihilate']), cfg['pct_start'], cfg['wd'], cfg['cutout'],
                                 cifar_stats, device, amp, cfg['pad'])
        return times, time.perf_counter()-t, hist[-1]['accuracy']
    for i in range(reps):
        for name,f in (('project', run_project), ('plain', run_plain)):
            times,total,acc = f()
            r = res[name]
            r['train'].append(1e6*_per(times, 'train', skip, 'wall'))
            r['train_cpu'].append(1e6*_per(times, 'train', skip, 'cpu'))
            r['valid'].append(1e6*_per(times, 'valid', skip, 'wall'))
            r['epoch_rest'].append(1e3*_rest(times, skip))
            r['total'].append(total); r['acc'].append(acc)
            say(f"  rep {i+1} {name:7}: train {r['train'][-1]:9.0f} µs/step ({r['train_cpu'][-1]:9.0f} CPU-µs), "
                f"valid {r['valid'][-1]:8.0f} µs/batch, rest of epoch {r['epoch_rest'][-1]:6.1f} ms; "
                f"whole call {total:5.1f} s; accuracy {acc:.3f}")
    out = dict(width=width, bs=bs, n_per_class=n_per_class, epochs=epochs, skip=skip, reps=reps, precision=prec,
               device=device_name(device), steps_per_epoch=len(tpos)//bs)
    for k,unit in (('train', 'µs/step'), ('train_cpu', 'CPU-µs/step'), ('valid', 'µs/valid batch'),
                   ('epoch_rest', 'ms/epoch outside the phases')):
        med,best = ({n: f(r[k]) for n,r in res.items()} for f in (statistics.median, min))
        out[k] = dict(project_median=med['project'], project_best=best['project'], plain_median=med['plain'],
                      plain_best=best['plain'], ratio_median=med['project']/med['plain'],
                      ratio_best=best['project']/best['plain'])
        say(f"{unit}: train() {med['project']:.0f} median / {best['project']:.0f} best; plain {med['plain']:.0f} / "
            f"{best['plain']:.0f}; ratio train()/plain {out[k]['ratio_median']:.3f} (medians), "
            f"{out[k]['ratio_best']:.3f} (bests)")
    return out

REGIMES = [dict(width=0.0625, bs=64, n_per_class=320, reps=5, epochs=3),  # a step short enough for overhead to show
           dict(width=1, bs=S9['bs'], n_per_class=103, reps=3, epochs=2)]  # the course's network: 2 steps an epoch

def profile_project(width, bs, n_per_class, epochs, lr_max, div, device, data, top=25, arch='custom'):
    "cProfile of one `train` run (as `overhead` runs it); the `top` functions by own time and by cumulative time"
    import cProfile, io, pstats, tempfile
    with tempfile.TemporaryDirectory() as d:
        pr = cProfile.Profile(); pr.enable()
        project_train(Path(d)/'run', data, torch.device(device), [], width=width, bs=bs, n_per_class=n_per_class,
                      epochs=epochs, lr_max=lr_max, div=div, arch=arch)
        pr.disable()
    for key in ('tottime', 'cumulative'):
        f = io.StringIO(); pstats.Stats(pr, stream=f).sort_stats(key).print_stats(top)
        print(f"\ncProfile of train(), width {width}, batch {bs}, {epochs} epochs, sorted by {key}:")
        print('\n'.join(l for l in f.getvalue().splitlines()[4:] if l.strip()), flush=True)

def _cpu_us(f, n):
    "CPU-µs per call of `f`, over `n` calls after one"
    f(); c = time.process_time()
    for _ in range(n): f()
    return 1e6*(time.process_time()-c)/n

def step_parts(width, bs, n_per_class, reps=3, n=20, data=None, say=print):
    "CPU-µs per batch of the parts of a training step, the project's way and the plain way (median of `reps`)"
    dls = cifar_dls(data, bs=bs, n_per_class=n_per_class, num_workers=0, device='cpu', on_device=True)
    images,labels,pos = dls.train.images,dls.train.labels,dls.train.pos
    mean,std = (torch.tensor(s).view(1,-1,1,1) for s in cifar_stats)
    m = cifar_model('custom', width); opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    x,y = dls.one_batch()  # TensorImage, TensorCategory
    xt,yt = x.as_subclass(Tensor),y.as_subclass(Tensor)
    def step(x):
        F.cross_entropy(m(x), yt).backward(); opt.step(); opt.zero_grad()
    def fastai_batches():
        for _ in dls.train: pass
    def plain_batches():
        perm = pos[torch.randperm(len(pos))]
        for i in range(len(pos)//bs):
            idx = perm[i*bs:(i+1)*bs]; plain_augment(images[idx].float().div_(255), mean, std); labels[idx]
    parts = {'training batch from the DataLoader (index, to float, pad-crop, flip, cutout, normalise)':
                 (lambda: fastai_batches(), lambda: plain_batches(), len(pos)//bs),
             'model step (forward, loss, backward, SGD), input TensorImage vs Tensor':
                 (lambda: step(x), lambda: step(xt), 1)}
    say(f"\nCPU-µs per batch, width {width}, batch {bs} (project's way / plain way, median of {reps}):")
    for name,(a,b,k) in parts.items():
        ts = [(_cpu_us(a, max(1, n//k))/k, _cpu_us(b, max(1, n//k))/k) for _ in range(reps)]  # alternated
        ta,tb = (statistics.median(t) for t in zip(*ts))
        say(f"  {name}: {ta:.0f} / {tb:.0f}")

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--overhead', action='store_true',
                   help="time resnet_eva.runs.train() against a plain loop doing the same work (see `overhead`)")
    p.add_argument('--profile', action='store_true', help='with --overhead: cProfile one train() run instead')
    p.add_argument('--arch', default='custom'); p.add_argument('--width', type=float, default=None,
                                                               help='default: 0.25; with --overhead, both REGIMES')
    p.add_argument('--bs', type=int, default=None, help=f"default: {S9['bs']}")
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--batches', type=int, default=4, help='distinct in-memory batches the steps cycle over')
    p.add_argument('--reps', type=int, default=None, help='default: 5 (3 at width 1 with --overhead)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--n-per-class', type=int, default=None, help='with --overhead: images of each class and split')
    p.add_argument('--epochs', type=int, default=None,
                   help='with --overhead: epochs of each run; default: 3 (2 at width 1)')
    p.add_argument('--skip', type=int, default=1, help='with --overhead: first epochs left out of the timing')
    p.add_argument('--lr-max', type=float, default=0.05); p.add_argument('--div', type=float, default=10)
    p.add_argument('--device', default=None, help="default: 'cuda' if there is a GPU, else 'cpu'")
    p.add_argument('--data', default=None, help='CIFAR-10 folder or .tgz; default: untar_data(URLs.CIFAR)')
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads; default: torch\'s')
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    device = a.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    say = lambda s: print(s, flush=True)
    print(header(device), flush=True)
    if not a.overhead:
        compare(a.arch, ifnone(a.width, 0.25), ifnone(a.bs, S9['bs']), a.steps, a.batches, ifnone(a.reps, 5), a.warmup,
                a.lr_max, a.div, device, a.data, say=say)
    else:
        given = dict(width=a.width, bs=a.bs, n_per_class=a.n_per_class, reps=a.reps, epochs=a.epochs)
        given = {k: v for k,v in given.items() if v is not None}
        regimes = [r | given for r in REGIMES if a.width in (None, r['width'])] or [REGIMES[0] | given]
        for r in regimes:
            if a.profile:
                profile_project(r['width'], r['bs'], r['n_per_class'], r['epochs'], a.lr_max, a.div, device, a.data)
                step_parts(r['width'], r['bs'], r['n_per_class'], data=a.data, say=say)
            else: overhead(r['width'], r['bs'], r['n_per_class'], r['epochs'], a.skip, r['reps'], a.lr_max, a.div,
                           device, a.data, say=say)
    print(f"load average at the end: {' '.join(f'{o:.2f}' for o in os.getloadavg())}")

if __name__ == '__main__': main()
