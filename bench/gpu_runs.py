"""Every measurement of the GPU issue, in one process, for one device call. A driver, not a test.

Stages, in order of importance; each writes what it has to `--out` as soon as it has it:

1. `env`: the device, its driver, the versions.
2. `decode`: CIFAR-10 decoded once into the cache file every later run reads (beside the data folder), timed alone.
3. `main`: the session-9 recipe (custom ResNet, 24 epochs, batch 512, one cycle peaking at epoch 5, no annihilation)
   for seeds 0..4 through `train`, quiet (no progress bar). Each run's final model is evaluated again on the 10,000
   validation images (a check of `metrics.json`) and with flip TTA, and on the 1,017 original-pixel test images; the
   numbers go into its `metrics.json` (`valid_tta_accuracy`, `exact1017_accuracy`, `exact1017_tta_accuracy`), then
   its weights (model.pth, learner.pkl, checkpoint.pth) are deleted.
4. `speed`: the fastai `Learner` against a plain PyTorch loop doing the same work: same network and weights, same
   in-memory batches, SGD with the same one-cycle schedule, bf16 autocast, channels_last, 24 epochs of 97 steps, a
   validation pass per epoch; alternated `--speed-reps` times. Then variants for `--variant-epochs` each (compared
   per epoch): progress bar and logging on, `train`'s callbacks, fastai's loss averages kept on the device (no host
   sync per batch), fused SGD, cuDNN benchmark, the real `DeviceDL` with its augmentations. Then probes: where the
   loops wait for the GPU (`torch.cuda.set_sync_debug_mode`), a `torch.profiler` table, a cProfile of the host.
5. `finder`: the LR finder alone for `--finder-spread` more seeds: how far LRMIN/LRMAX move with the seed.
6. `session8`: ResNet18, 20 epochs, batch 128, cutout 16, one seed, with its own LR finder.
7. `ablations`: named recipes (`--ablations`), each one change to `main` on its schedule, for `--ablation-seeds`
   seeds: `anneal` (the cycle ends near zero), `ls` (label smoothing 0.1), `anneal-ls` (both). Flip TTA needs no
   training: every run reports it.
8. `compile`: `torch.compile` on the plain loop and on the fastai path: compile time (caches off), then the epochs.

Schedule: the seeds share the LRMIN/LRMAX the finder found in seed 0's run (recorded there: lr_find.csv/png,
config.json), so that their spread is the recipe's and not the finder's noise added to it; `finder` measures that
noise. `--finder-per-seed` runs the finder in every run instead; `--lr-max`/`--div` skip it.

Budget: an alarm stops the work `--budget-s` after the script started; before each run the script estimates it from
the runs before and starts nothing that would end later than that, less `--reserve-s`.

What comes back (at most 8 files under `--out`): `records.tar.gz` (the run folders under `results/`, without
weights, and `gpu_runs/` with summary.json, summary.md, log.txt and the profiles), rewritten after every run;
`summary.json`, `summary.md`, `log.txt`.

    python bench/gpu_runs.py --out $OUT                          # everything, on a GPU
    python bench/gpu_runs.py --out /tmp/o --smoke                # every stage, tiny, on the CPU, in about a minute
    python bench/gpu_runs.py --out $OUT --stages decode,compile  # some stages only
"""
import time
T0 = time.perf_counter()  # the budget counts the imports too
import argparse, contextlib, cProfile, gc, io, json, os, platform, pstats, shutil, signal, socket, statistics
import subprocess, sys, tarfile, tempfile, traceback, warnings
from functools import partial
from pathlib import Path

import numpy as np, torch, torch.nn.functional as F

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from fastai_vs_torch import Cycle  # the in-memory stand-in for a DataLoader

import fastai, fastcore, torchvision
from fastai.vision.all import (AvgLoss, AvgMetric, AvgSmoothLoss, DataLoaders, OptimWrapper, Tensor, cifar_stats,
                               find_bs, set_seed)
import resnet_eva
from resnet_eva.data import cifar_cache_file, cifar_dls, cifar_source, cifar_tensors
from resnet_eva.learner import (Checkpoint, RunHistory, StopOnNaN, cifar_learner, cifar_model, fit_course, lr_range,
                                read_run, train, device_name)

CIFAR_CLASSES = 'airplane automobile bird cat deer dog frog horse ship truck'.split()  # labels.txt order
RECIPES = {  # name: (the changes to the session-9 recipe, what it tests)
    'session9': (dict(), "the assignment's schedule: LRMIN -> LRMAX at epoch 5 -> LRMIN (no annihilation)"),
    'anneal': (dict(annihilate=True), 'the cycle ends near zero (LRMAX/1e5) instead of at LRMIN'),
    'ls': (dict(label_smoothing=0.1), 'label smoothing 0.1'),
    'anneal-ls': (dict(annihilate=True, label_smoothing=0.1), 'annealing to ~0 and label smoothing 0.1'),
}
STAGES = 'env decode main speed finder session8 ablations compile'.split()

class OutOfBudget(BaseException):
    "Raised by the alarm: a `BaseException`, so that `train`'s `except Exception` lets it through"

# ---------------------------------------------------------------------------------------------------------------
# Records: a log, a summary rewritten after each step, one tar of everything
# ---------------------------------------------------------------------------------------------------------------

def _jsonable(o):
    if isinstance(o, (np.integer,)): return int(o)
    if isinstance(o, (np.floating,)): return float(o)
    if isinstance(o, (Path, torch.device, torch.dtype)): return str(o)
    if isinstance(o, torch.Tensor): return o.tolist()
    return repr(o)

def _write(fn, text):
    tmp = Path(fn).with_name(f'.{Path(fn).name}.tmp')
    tmp.write_text(text); os.replace(tmp, fn)

class Records:
    "The log, `summary.json` and the tar of run folders, kept under `work` and copied to `out` after every step"
    def __init__(self, out, work, t0):
        self.out,self.work,self.t0 = Path(out),Path(work),t0
        self.results,self.aux = self.work/'results',self.work/'gpu_runs'
        for d in (self.out, self.results, self.aux): d.mkdir(parents=True, exist_ok=True)
        self.log_fn = self.aux/'log.txt'
        self.log_fn.write_text('')
        self.summary = dict(started=time.strftime('%Y-%m-%d %H:%M:%S'), stages={})

    def log(self, *args):
        line = f"[{time.perf_counter()-self.t0:7.1f}s] " + ' '.join(map(str, args))
        print(line, flush=True)
        with open(self.log_fn, 'a') as f: f.write(line+'\n')

    def save(self, pack=True):
        self.summary['updated'] = time.strftime('%Y-%m-%d %H:%M:%S')
        self.summary['elapsed_s'] = round(time.perf_counter()-self.t0, 1)
        _write(self.aux/'summary.json', json.dumps(self.summary, indent=2, default=_jsonable)+'\n')
        _write(self.aux/'summary.md', summary_md(self.summary))
        for n in ('summary.json', 'summary.md', 'log.txt'): shutil.copyfile(self.aux/n, self.out/n)
        if pack: self.pack()

    def pack(self):
        "All run folders (weights left out) and `gpu_runs/` in one `records.tar.gz`, replaced atomically"
        tmp = self.out/'.records.tar.gz.tmp'
        skip = lambda ti: None if ti.name.endswith(('.pth', '.pkl', '.pt')) else ti
        with tarfile.open(tmp, 'w:gz') as tf:
            for d in sorted(self.results.iterdir()): tf.add(d, arcname=f'results/{d.name}', filter=skip)
            tf.add(self.aux, arcname='gpu_runs', filter=skip)
        os.replace(tmp, self.out/'records.tar.gz')

# ---------------------------------------------------------------------------------------------------------------
# Budget
# ---------------------------------------------------------------------------------------------------------------

class Budget:
    "Seconds left before `total`, counted from `t0`; an alarm raises `OutOfBudget` when they are spent"
    def __init__(self, t0, total, reserve):
        self.t0,self.total,self.reserve = t0,total,reserve
        def _ring(*_): raise OutOfBudget(f'the budget of {total:.0f} s is spent')
        signal.signal(signal.SIGALRM, _ring)
        signal.setitimer(signal.ITIMER_REAL, max(1., total - (time.perf_counter()-t0)))
    def left(self): return self.total - (time.perf_counter()-self.t0)
    def fits(self, est): return self.left() - self.reserve >= est
    def stop(self): signal.setitimer(signal.ITIMER_REAL, 0)

# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------

def sync(device):
    if device.type=='cuda': torch.cuda.synchronize(device)

def free_memory():
    gc.collect()
    if torch.cuda.is_available(): torch.cuda.empty_cache()

def amp_dtype(precision): return dict(bf16=torch.bfloat16, fp16=torch.float16).get(precision)

def autocast(device, precision):
    "Mixed precision as `cifar_learner`'s `MixedPrecision` does it, or nothing for fp32"
    dt = amp_dtype(precision)
    return torch.autocast(device.type, dtype=dt) if dt else contextlib.nullcontext()

def auto_precision(device):
    "What `cifar_learner(precision='auto')` picks"
    return ('bf16' if torch.cuda.is_bf16_supported() else 'fp16') if device.type=='cuda' else 'fp32'

def env_record(device):
    "The device, its driver and the versions, as the run folders' config.json records them and more"
    v = dict(python=platform.python_version(), torch=torch.__version__, torchvision=torchvision.__version__,
             fastai=fastai.__version__, fastcore=fastcore.__version__, numpy=np.__version__, resnet_eva=resnet_eva.__version__,
             cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
    e = dict(host=socket.gethostname(), cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), load_avg=os.getloadavg(),
             versions=v, device_type=device.type)
    if device.type=='cuda':
        p = torch.cuda.get_device_properties(device)
        e.update(device=torch.cuda.getdevice_name(device), capability='.'.join(map(str, torch.cuda.get_device_capability(device))),
                 multiprocessors=p.multi_processor_count, memory_gib=round(p.total_memory/2**30, 1),
                 bf16_supported=torch.cuda.is_bf16_supported(), cudnn_benchmark=torch.backends.cudnn.benchmark)
        try: e['nvidia_smi'] = subprocess.run(['nvidia-smi', '--query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit',
                                               '--format=csv,noheader'], capture_output=True, text=True, timeout=20).stdout.strip()
        except Exception as ex: e['nvidia_smi'] = f'unavailable: {ex}'
    else: e['device'] = device_name(device)
    return e

def device_tag(env):
    name = env['device'].upper()
    return 'h200' if 'H200' in name else 'h100' if 'H100' in name else 'gpu' if env['device_type']=='cuda' else 'cpu'

def update_metrics(run_dir, **kw):
    fn = Path(run_dir)/'metrics.json'
    m = json.loads(fn.read_text()) if fn.exists() else {}
    _write(fn, json.dumps(m | kw, indent=2, default=_jsonable)+'\n')

def drop_weights(run_dir):
    for n in ('model.pth', 'learner.pkl', 'checkpoint.pth'): (Path(run_dir)/n).unlink(missing_ok=True)

# ---------------------------------------------------------------------------------------------------------------
# Evaluation: validation again (with flip TTA) and the 1,017 original-pixel images
# ---------------------------------------------------------------------------------------------------------------

def load_exact(fn, vocab, classes, device, n=None):
    "The original-pixel test images, normalised as the pipeline does (/255, then `cifar_stats`), labels in `vocab` order"
    z = np.load(fn)
    x = torch.from_numpy(z['images'][:n]).permute(0,3,1,2).float().div(255)
    mean,std = (torch.tensor(s).view(1,3,1,1) for s in cifar_stats)
    y = torch.tensor([list(vocab).index(classes[int(i)]) for i in z['labels'][:n]])
    return ((x-mean)/std).to(device), y.to(device)

@torch.no_grad()
def predict(model, batches, precision, device):
    "Softmax of `model` on each (x, y) of `batches` and on its mirror image; returns probs, flipped probs, targets"
    model.eval()
    ps,pfs,ys = [],[],[]
    for xb,yb in batches:
        xb = xb.as_subclass(Tensor)
        if device.type=='cuda': xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            ps.append(model(xb).float().softmax(1)); pfs.append(model(xb.flip(3)).float().softmax(1))
        ys.append(yb.as_subclass(Tensor))
    return torch.cat(ps), torch.cat(pfs), torch.cat(ys)

def accuracies(p, pf, y, prefix=''):
    acc = lambda q: (q.argmax(1)==y).float().mean().item()
    return {f'{prefix}accuracy': acc(p), f'{prefix}tta_accuracy': acc(p+pf), f'{prefix}n': len(y)}

def evaluate(learn, exact, bs=1024):
    "Validation accuracy (again) and with flip TTA; the same on the original-pixel images"
    device = next(learn.model.parameters()).device
    r = accuracies(*predict(learn.model, learn.dls.valid, learn.precision, device), prefix='valid_')
    if exact is not None:
        x,y = exact
        r |= accuracies(*predict(learn.model, zip(x.split(bs), y.split(bs)), learn.precision, device), prefix='exact1017_')
    return r

# ---------------------------------------------------------------------------------------------------------------
# Runs through `train`: the stages main, session8, ablations
# ---------------------------------------------------------------------------------------------------------------

class Runner:
    "Everything the stages share: arguments, records, budget, data, the schedule found by the finder"
    def __init__(self, a, rec, budget, device):
        self.a,self.rec,self.budget,self.device = a,rec,budget,device
        self.schedule = None if a.lr_max is None else dict(lr_max=a.lr_max, div=a.div, found_in=a.schedule_from or 'the command line')
        self.run_s = []  # `train` call times of the session-9 network, for estimates
        self.exact = None

    def estimate(self, kind='custom'):
        base = max(self.run_s[-3:]) if self.run_s else self.a.run_guess_s
        return base * (self.a.resnet18_factor if kind=='resnet18' else 1)

    def exact_data(self, vocab):
        if self.exact is None and self.a.exact:
            root,_ = cifar_source(self.a.data)
            classes = (root/'labels.txt').read_text().split() if (root/'labels.txt').exists() else CIFAR_CLASSES
            self.exact = load_exact(self.a.exact, vocab, classes, self.device, self.a.exact_n)
        return self.exact

    def run(self, name, seed, recipe, kind='custom', finder=False, schedule=None):
        "One `train` run into `results/<tag>-<name>-seed<seed>`, evaluated, weights dropped; its metrics"
        a,rec = self.a,self.rec
        d = rec.results/f'{a.tag}-{name}-seed{seed}'
        est = self.estimate(kind) * (1.3 if finder else 1)
        if not self.budget.fits(est):
            rec.log(f'  skip {d.name}: needs ~{est:.0f} s, {self.budget.left():.0f} s left'); return None
        if d.exists(): shutil.rmtree(d)
        lr = {} if finder or schedule is None else dict(lr_max=schedule['lr_max'], div=schedule['div'])
        if torch.cuda.is_available(): torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        try: learn = train(d, data=a.data, seed=seed, progress=a.progress, num_workers=a.num_workers, n_per_class=a.n_per_class,
                           lr_find_iters=a.lr_find_iters, **recipe, **lr)
        except Exception as e:  # one failed run (a NaN loss, say) should not stop the other seeds
            rec.log(f'  {d.name} failed: {type(e).__name__}: {e}')
            rec.summary.setdefault('runs', {})[d.name] = dict(recipe=name, seed=seed, status='failed', error=f'{type(e).__name__}: {e}')
            drop_weights(d); free_memory(); rec.save()
            return None
        call_s = time.perf_counter()-t
        m = read_run(d)['metrics']
        t = time.perf_counter()
        ev = evaluate(learn, self.exact_data(learn.dls.vocab))
        extra = dict(recipe=name, train_call_s=round(call_s, 2), eval_s=round(time.perf_counter()-t, 2), **ev,
                     schedule_from=None if lr == {} else schedule.get('found_in'),
                     peak_gpu_mem_gib=round(torch.cuda.max_memory_allocated()/2**30, 2) if torch.cuda.is_available() else None)
        if ev.get('exact1017_n'): extra['exact1017_file'] = Path(a.exact).name
        update_metrics(d, **extra)
        if kind=='custom' and m.get('epochs')==a.epochs: self.run_s.append(call_s)
        cfg = read_run(d)['config']
        del learn; free_memory(); drop_weights(d)
        rec.log(f"  {d.name}: accuracy {m.get('accuracy', float('nan')):.4f} (recheck {ev['valid_accuracy']:.4f}, flip TTA {ev['valid_tta_accuracy']:.4f}), "
                + (f"exact1017 {ev['exact1017_accuracy']:.4f} (TTA {ev['exact1017_tta_accuracy']:.4f}), " if 'exact1017_accuracy' in ev else '')
                + f"fit {m.get('wall_s')} s, train() call {call_s:.1f} s; LRMAX {cfg['lr_max']:.3g}, div {cfg['div']:.3g}")
        rec.summary.setdefault('runs', {})[d.name] = dict(seed=seed, arch=cfg['arch'], epochs=m.get('epochs'),
            status=m.get('status'), accuracy=m.get('accuracy'), best_accuracy=m.get('best_accuracy'), fit_wall_s=m.get('wall_s'),
            images_per_s=m.get('images_per_s'), lr_max=cfg['lr_max'], div=cfg['div'], lr_find=cfg.get('lr_find'), **extra)
        rec.save()
        return cfg

    def recipe(self, name, seeds):
        "`name` (a key of `RECIPES`) for `seeds`; the first run finds the schedule if none is known yet"
        a = self.a
        base = dict(arch='custom', width=a.width, epochs=a.epochs, bs=a.bs, pct_start=5/24, annihilate=False, cutout=8)
        for seed in seeds:
            finder = a.finder_per_seed or self.schedule is None
            cfg = self.run(name, seed, base | RECIPES[name][0], finder=finder, schedule=self.schedule)
            if cfg and self.schedule is None:  # the first run's finder sets the schedule of every later run
                self.schedule = dict(lr_max=cfg['lr_max'], div=cfg['div'], found_in=f'{a.tag}-{name}-seed{seed}', lr_find=cfg.get('lr_find'))
                self.rec.summary['schedule'] = self.schedule
        self.rec.summary['recipes'] = recipe_table(self.rec.summary.get('runs', {}))
        self.rec.save()

def recipe_table(runs):
    "Per recipe: seeds, accuracy mean ± std (and min), TTA, original pixels, fit time"
    out = {}
    for name in dict.fromkeys(r['recipe'] for r in runs.values()):
        rs = [r for r in runs.values() if r['recipe']==name and r.get('status')=='complete']
        if not rs: continue
        col = lambda k: [r[k] for r in rs if r.get(k) is not None]
        stat = lambda v: dict(mean=statistics.fmean(v), std=statistics.stdev(v) if len(v)>1 else None, min=min(v), max=max(v)) if v else None
        acc = col('accuracy')
        out[name] = dict(seeds=[r['seed'] for r in rs], arch=rs[0]['arch'], epochs=rs[0]['epochs'], accuracy=stat(acc),
                         tta_accuracy=stat(col('valid_tta_accuracy')), exact1017_accuracy=stat(col('exact1017_accuracy')),
                         exact1017_tta_accuracy=stat(col('exact1017_tta_accuracy')), fit_wall_s=stat(col('fit_wall_s')),
                         train_call_s=stat(col('train_call_s')),
                         target_94_mean_93_each=bool(len(acc)>=5 and statistics.fmean(acc)>=0.94 and min(acc)>=0.93))
    return out

# ---------------------------------------------------------------------------------------------------------------
# Stage 4: speed. The plain loop and the fastai paths on the same batches
# ---------------------------------------------------------------------------------------------------------------

def sgd(params, lr, wd, fused=False):
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd, **(dict(fused=True) if fused else {}))

def plain_fit(model, train_b, valid_b, epochs, steps, lr_max, div, pct_start, wd, precision, device, fused=False):
    """The course's loop without fastai: SGD (momentum 0.9, L2), `OneCycleLR` as `fit_course` schedules it, autocast,
    channels_last; per epoch a validation pass (loss and accuracy), with one host sync per epoch as fastai's log has.
    `steps` batches an epoch, cycling over the in-memory `train_b`; `None`: one pass over `train_b` (a DataLoader)"""
    sync(device); t = time.perf_counter()
    opt = sgd(model.parameters(), lr_max/div, wd, fused)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr_max, total_steps=epochs*(steps or len(train_b)), pct_start=pct_start, div_factor=div,
                                                final_div_factor=1, base_momentum=0.85, max_momentum=0.95)
    log = []
    for epoch in range(epochs):
        model.train()
        tl = torch.zeros((), device=device)
        for xb,yb in (train_b if steps is None else Cycle(train_b, steps)):
            xb,yb = xb.as_subclass(Tensor),yb.as_subclass(Tensor)
            if device.type=='cuda': xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                loss = F.cross_entropy(model(xb), yb)
            loss.backward(); opt.step(); opt.zero_grad(); sched.step()
            tl += loss.detach().float()
        model.eval()
        vl,correct,n = torch.zeros((), device=device),torch.zeros((), device=device, dtype=torch.long),0
        with torch.no_grad():
            for xb,yb in valid_b:
                xb,yb = xb.as_subclass(Tensor),yb.as_subclass(Tensor)
                if device.type=='cuda': xb = xb.contiguous(memory_format=torch.channels_last)
                with autocast(device, precision): out = model(xb)
                vl += F.cross_entropy(out.float(), yb, reduction='sum'); correct += (out.argmax(1)==yb).sum(); n += len(yb)
        log.append((tl.item(), vl.item()/n, correct.item()/n))  # the epoch's only host syncs
    sync(device)
    return time.perf_counter()-t, log[-1][2]

@contextlib.contextmanager
def device_metrics():
    "fastai's loss and metric averages kept on the device: no `.cpu()` (a host sync) per batch, one `.item()` per epoch"
    saved = AvgSmoothLoss.accumulate, AvgLoss.accumulate, AvgMetric.accumulate
    def smooth(self, learn):
        self.count += 1
        l = learn.loss.detach().mean().float()
        self.val = torch.lerp(l, self.val.to(l.device), self.beta)
    def avg_loss(self, learn):
        bs = find_bs(learn.yb); self.total += learn.loss.detach().mean().float()*bs; self.count += bs
    def avg_metric(self, learn):
        bs = find_bs(learn.yb); self.total += self.func(learn.pred, *learn.yb).detach()*bs; self.count += bs
    AvgSmoothLoss.accumulate, AvgLoss.accumulate, AvgMetric.accumulate = smooth, avg_loss, avg_metric
    try: yield
    finally: AvgSmoothLoss.accumulate, AvgLoss.accumulate, AvgMetric.accumulate = saved

def fastai_fit(learn, init, epochs, lr_max, div, pct_start, device, bar=False, cbs=None, nosync=False, fused=False, dls=None):
    "The same steps through the project's `Learner` (`fit_course`), from the weights `init` and a new optimizer"
    model = getattr(learn.model, '_orig_mod', learn.model)
    model.load_state_dict(init); learn.opt = None
    learn.opt_func = partial(OptimWrapper, opt=partial(torch.optim.SGD, fused=True) if fused else torch.optim.SGD, momentum=0.9)
    if dls is not None: learn.dls = dls
    ctx = [] if bar else [learn.no_bar(), learn.no_logging()]
    sync(device); t = time.perf_counter()
    with contextlib.ExitStack() as st:
        for c in ctx: st.enter_context(c)
        if bar: st.enter_context(contextlib.redirect_stdout(st.enter_context(open(os.devnull, 'w'))))  # the bar still updates and syncs
        if nosync: st.enter_context(device_metrics())
        fit_course(learn, epochs, lr_max, div, pct_start, cbs=cbs)
    sync(device)
    return time.perf_counter()-t, float(learn.recorder.values[-1][-1])

def sync_sites(f, device):
    "Run `f()` with CUDA's sync debug mode on: count the host syncs by the first line outside torch that caused them"
    if device.type!='cuda': f(); return {}
    sites = {}
    def hook(message, category, filename, lineno, file=None, line=None):
        if 'synchroniz' not in str(message): return
        st = [fr for fr in traceback.extract_stack()[:-1] if '/torch/' not in fr.filename and 'warnings' not in fr.filename]
        k = ' < '.join(f'{fr.filename.split("site-packages/")[-1].split("/work/main/")[-1]}:{fr.lineno} {fr.name}' for fr in st[::-1][:4]) or '?'
        sites[k] = sites.get(k, 0)+1
    with warnings.catch_warnings():
        warnings.simplefilter('always'); warnings.showwarning = hook
        torch.cuda.set_sync_debug_mode('warn')
        try: f()
        finally: torch.cuda.set_sync_debug_mode(0)
    return dict(sorted(sites.items(), key=lambda kv: -kv[1]))

def torch_profile(f, device, fn):
    "A `torch.profiler` table of `f()` (by host time) into `fn`; the sync and copy calls counted"
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type=='cuda' else [])
    with profile(activities=acts) as prof: f()
    ka = prof.key_averages()
    fn.write_text(ka.table(sort_by='self_cpu_time_total', row_limit=40))
    keys = ('cudaStreamSynchronize', 'cudaDeviceSynchronize', 'cudaEventSynchronize', 'aten::item', 'aten::_local_scalar_dense',
            'cudaMemcpyAsync', 'cudaLaunchKernel', 'aten::copy_')
    return {e.key: e.count for e in ka if e.key in keys}

def host_profile(f, fn, n=30):
    "cProfile of `f()`: the host's Python time, top `n` by own time, into `fn`"
    pr = cProfile.Profile(); pr.enable()
    try: f()
    finally: pr.disable()
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats('tottime').print_stats(n)
    fn.write_text(s.getvalue())

def _same_work(a, device):
    "One epoch of augmented training batches and the validation batches, in memory, and the starting weights: what both paths get"
    set_seed(0)
    dls = cifar_dls(a.data, bs=a.bs, n_per_class=a.n_per_class, num_workers=a.num_workers, cutout=8)
    steps = min(len(dls.train), a.speed_steps or len(dls.train))
    nv = min(len(dls.valid), a.speed_valid_batches or len(dls.valid))
    to_plain = lambda b: tuple(o.as_subclass(Tensor).to(device) for o in b)
    it = iter(dls.train); train_b = [to_plain(next(it)) for _ in range(steps)]
    it = iter(dls.valid); valid_b = [to_plain(next(it)) for _ in range(nv)]
    set_seed(0)
    init = {k: v.clone() for k,v in cifar_model('custom', a.width).state_dict().items()}
    return dls, train_b, valid_b, steps, nv, init

def speed(R):
    "fastai `Learner` against the plain loop on the same GPU, same batches, same schedule; then the variants"
    a,rec,device,B = R.a,R.rec,R.device,R.budget
    S = rec.summary['speed'] = dict(results={}, note=None)
    dls,train_b,valid_b,steps,nv,init = _same_work(a, device)
    learn = cifar_learner(DataLoaders(Cycle(train_b, steps), Cycle(valid_b, nv)), 'custom', a.width)
    prec = learn.precision
    sch = R.schedule or dict(lr_max=0.4, div=10.)  # the finder's, when `main` ran first
    E,lr_max,div,pcts,wd = a.speed_epochs, sch['lr_max'], sch['div'], 5/24, 5e-4
    S.update(epochs=E, steps_per_epoch=steps, valid_batches=nv, bs=a.bs, precision=prec, lr_max=lr_max, div=div,
             images_per_epoch=steps*a.bs, note='wall time of the whole fit including a validation pass per epoch; '
             'both paths start from the same weights on the same in-memory batches (augmented once), unless named -dl')
    def new_plain():
        m = cifar_model('custom', a.width).to(device); m.load_state_dict(init)
        return m.to(memory_format=torch.channels_last) if device.type=='cuda' else m
    mem = lambda: DataLoaders(Cycle(train_b, steps), Cycle(valid_b, nv))
    variants = dict(
        plain=lambda e: plain_fit(new_plain(), train_b, valid_b, e, steps, lr_max, div, pcts, wd, prec, device),
        fastai=lambda e: fastai_fit(learn, init, e, lr_max, div, pcts, device, dls=mem()),
    )
    extra = {
        'fastai-bar': lambda e: fastai_fit(learn, init, e, lr_max, div, pcts, device, bar=True, dls=mem()),
        'fastai-traincbs': lambda e: _with_run_cbs(lambda cbs: fastai_fit(learn, init, e, lr_max, div, pcts, device, cbs=cbs, dls=mem())),
        'fastai-nosync': lambda e: fastai_fit(learn, init, e, lr_max, div, pcts, device, nosync=True, dls=mem()),
        'plain-fused': lambda e: plain_fit(new_plain(), train_b, valid_b, e, steps, lr_max, div, pcts, wd, prec, device, fused=True),
        'fastai-fused-nosync': lambda e: fastai_fit(learn, init, e, lr_max, div, pcts, device, nosync=True, fused=True, dls=mem()),
        'plain-cudnnbench': lambda e: _cudnn_bench(variants['plain'], e),
        'fastai-nosync-cudnnbench': lambda e: _cudnn_bench(extra['fastai-nosync'], e),
        'plain-dl': lambda e: plain_fit(new_plain(), dls.train, dls.valid, e, None, lr_max, div, pcts, wd, prec, device),
        'fastai-dl': lambda e: fastai_fit(learn, init, e, lr_max, div, pcts, device, dls=dls),
        'fastai-dl-nosync': lambda e: fastai_fit(learn, init, e, lr_max, div, pcts, device, nosync=True, dls=dls),
    }
    rec.log(f"speed: custom width {a.width}, {E} epochs x {steps} steps of {a.bs} + {nv} validation batches, {prec}; "
            f"LRMAX {lr_max:.3g}, div {div:.3g}")
    res = S['results']
    def timed(k, f, e, warm=False):
        "`f(e)` timed and recorded, if the budget allows; after `f(1)` if `warm`"
        per_epoch = [statistics.median(r['wall_s'])/r['epochs'] for r in res.values() if r.get('wall_s')]
        est = 1.3*(e+warm)*max(per_epoch or [R.estimate()/E])
        if not B.fits(est): rec.log(f'  skip {k}: needs ~{est:.0f} s, {B.left():.0f} s left'); return None
        if warm: f(1)  # kernels, cuDNN's choices, the allocator; for -dl, the DataLoader's transforms
        w,acc = f(e)
        res.setdefault(k, dict(epochs=e, wall_s=[], final_valid_accuracy=[]))
        res[k]['wall_s'].append(round(w, 3)); res[k]['final_valid_accuracy'].append(round(acc, 4))
        res[k]['images_per_s'] = round(e*steps*a.bs/statistics.median(res[k]['wall_s']), 1)
        rec.log(f'  {k:26}: {w:7.2f} s for {e} epochs ({e*steps*a.bs/w:8.0f} train images/s), final valid accuracy {acc:.4f}')
        return w
    est = lambda: 1.3*max([max(r['wall_s']) for r in res.values() if r.get('wall_s')] or [R.estimate()])
    for r in range(a.speed_reps):
        for k,f in variants.items(): timed(k, f, E, warm=r==0)
    _speed_ratios(S); rec.save()
    names = [k for k in extra if a.speed_variants=='all' or k in a.speed_variants.split(',')]
    for k in names:
        try:
            timed(k, extra[k], a.variant_epochs, warm='-dl' in k)
        except OutOfBudget: raise
        except Exception as e: res[k] = dict(error=f'{type(e).__name__}: {e}'); rec.log(f'  {k} failed: {type(e).__name__}: {e}')
        _speed_ratios(S); rec.save(pack=False)
    # Where the fastai loop waits and spends its host time: short runs, each under one probe
    P = S['profiles'] = {}
    pe = max(1, min(2, E))
    probes = [
        ('sync_sites_fastai_traincbs_bar', lambda: sync_sites(lambda: _with_run_cbs(lambda cbs: fastai_fit(
            learn, init, pe, lr_max, div, pcts, device, bar=True, cbs=cbs, dls=mem())), device)),
        ('sync_sites_fastai_dl', lambda: sync_sites(lambda: fastai_fit(learn, init, pe, lr_max, div, pcts, device, dls=dls), device)),
        ('sync_sites_plain', lambda: sync_sites(lambda: variants['plain'](pe), device)),
        ('torch_profile_fastai', lambda: torch_profile(lambda: variants['fastai'](pe), device, rec.aux/'profile_torch_fastai.txt')),
        ('torch_profile_plain', lambda: torch_profile(lambda: variants['plain'](pe), device, rec.aux/'profile_torch_plain.txt')),
        ('cprofile_fastai', lambda: host_profile(lambda: variants['fastai'](pe), rec.aux/'profile_host_fastai.txt')),
    ]
    for k,f in probes:
        if not B.fits(est()*pe/E*3 + 5): rec.log(f'  skip probe {k}: {B.left():.0f} s left'); continue
        try:
            t = time.perf_counter(); P[k] = f()
            rec.log(f'  probe {k} ({time.perf_counter()-t:.1f} s): ' + (json.dumps(P[k])[:600] if P[k] else 'see its file'))
        except OutOfBudget: raise
        except Exception as e: P[k] = f'failed: {type(e).__name__}: {e}'; rec.log(f'  probe {k} failed: {e}')
    P['steps_profiled'] = dict(epochs=pe, train_steps=pe*steps, valid_batches=pe*nv)
    del learn, train_b, valid_b, dls; free_memory()
    rec.save()

def _with_run_cbs(f):
    "`f(cbs)` with the callbacks `train` adds (StopOnNaN, RunHistory, Checkpoint) writing into a temporary folder"
    with tempfile.TemporaryDirectory() as d:
        return f([StopOnNaN(), RunHistory(Path(d)), Checkpoint(Path(d)/'checkpoint.pth')])

def _cudnn_bench(f, e):
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try: f(1); return f(e)  # its own warm-up: the benchmark runs on the first call of each shape
    finally: torch.backends.cudnn.benchmark = old

RATIOS = [('fastai', 'plain'), ('fastai-bar', 'plain'), ('fastai-traincbs', 'plain'), ('fastai-nosync', 'plain'),
          ('fastai-fused-nosync', 'plain-fused'), ('fastai-nosync-cudnnbench', 'plain-cudnnbench'), ('fastai-dl', 'plain-dl'),
          ('fastai-dl-nosync', 'plain-dl'), ('plain-fused', 'plain'), ('plain-cudnnbench', 'plain'), ('plain-dl', 'plain')]

def _speed_ratios(S):
    res = S['results']
    med = {k: statistics.median(v['wall_s'])/v['epochs'] for k,v in res.items() if v.get('wall_s')}  # per epoch: variants run fewer
    S['median_s_per_epoch'] = {k: round(v, 4) for k,v in med.items()}
    S['ratios'] = {f'{k}/{p}': round(med[k]/med[p], 3) for k,p in RATIOS if k in med and p in med}
    if 'fastai' in med and 'plain' in med:
        S['fastai_over_plain'] = S['ratios']['fastai/plain']
        S['target_fastai_within_1.10x'] = S['fastai_over_plain'] <= 1.10

# ---------------------------------------------------------------------------------------------------------------
# Stage 8: torch.compile
# ---------------------------------------------------------------------------------------------------------------

def compile_stage(R):
    "torch.compile on the plain loop and on the fastai path: time to compile (warm-up), then the 24 epochs"
    a,rec,device,B = R.a,R.rec,R.device,R.budget
    C = rec.summary['compile'] = dict(mode=a.compile_mode, backend=a.compile_backend)
    dls,train_b,valid_b,steps,nv,init = _same_work(a, device)
    lr_max,div,E = (R.schedule or {}).get('lr_max', 0.4), (R.schedule or {}).get('div', 10.), a.speed_epochs
    comp = partial(torch.compile, mode=a.compile_mode, backend=a.compile_backend)
    import torch._inductor.config as ic
    caches = getattr(ic, 'force_disable_caches', None)
    if caches is not None: ic.force_disable_caches = True  # each path compiles from scratch: no graphs cached by the one before
    for path in ('plain', 'fastai'):
        est = a.compile_guess_s + 1.3*R.estimate()
        if not B.fits(est): rec.log(f'  skip compile {path}: needs ~{est:.0f} s, {B.left():.0f} s left'); continue
        try:
            torch._dynamo.reset()
            if path=='plain':
                m = cifar_model('custom', a.width).to(device); m.load_state_dict(init)
                if device.type=='cuda': m = m.to(memory_format=torch.channels_last)
                mc = comp(m)
                prec = auto_precision(device)
                t = time.perf_counter()
                plain_fit(mc, train_b, valid_b, 1, min(3, steps), lr_max, div, 5/24, 5e-4, prec, device)  # compiles train and eval graphs
                c_s = time.perf_counter()-t
                m.load_state_dict(init)
                w,acc = plain_fit(mc, train_b, valid_b, E, steps, lr_max, div, 5/24, 5e-4, prec, device)
            else:
                learn = cifar_learner(DataLoaders(Cycle(train_b, steps), Cycle(valid_b, nv)), 'custom', a.width)
                learn.model = comp(learn.model)
                t = time.perf_counter()
                fastai_fit(learn, init, 1, lr_max, div, 5/24, device, nosync=True, dls=DataLoaders(Cycle(train_b, min(3, steps)), Cycle(valid_b, nv)))
                c_s = time.perf_counter()-t
                w,acc = fastai_fit(learn, init, E, lr_max, div, 5/24, device, nosync=True, dls=DataLoaders(Cycle(train_b, steps), Cycle(valid_b, nv)))
                del learn
            C[path] = dict(compile_s=round(c_s, 2), wall_s=round(w, 3), final_valid_accuracy=round(acc, 4),
                           note='compile_s: the first short epoch, which compiles the train and eval graphs' +
                                ('; fastai path with device-side loss averages (nosync)' if path=='fastai' else ''))
            rec.log(f'  compile {path}: compiling {c_s:.1f} s, then {E} epochs in {w:.2f} s, final valid accuracy {acc:.4f}')
        except OutOfBudget: raise
        except Exception as e:
            C[path] = dict(error=f'{type(e).__name__}: {e}'); rec.log(f'  compile {path} failed: {type(e).__name__}: {e}')
        free_memory(); rec.save(pack=False)
    torch._dynamo.reset()
    if caches is not None: ic.force_disable_caches = caches

# ---------------------------------------------------------------------------------------------------------------
# Stage 7: the finder's spread
# ---------------------------------------------------------------------------------------------------------------

def finder_stage(R):
    a,rec = R.a,R.rec
    F_ = rec.summary['finder'] = dict(iters=a.lr_find_iters, seeds={})
    dls = None
    for seed in range(1, a.finder_spread+1):
        est = 0.08*R.estimate() + 2
        if not R.budget.fits(est): rec.log(f'  skip finder seed {seed}'); break
        set_seed(seed)
        dls = dls or cifar_dls(a.data, bs=a.bs, n_per_class=a.n_per_class, num_workers=a.num_workers, cutout=8)
        learn = cifar_learner(dls, 'custom', a.width)
        t = time.perf_counter()
        with learn.no_bar(), learn.no_logging(): r = lr_range(learn, a.lr_find_iters)
        F_['seeds'][seed] = dict(lr_min=r.lr_min, lr_max=r.lr_max, div=r.lr_max/r.lr_min, seconds=round(time.perf_counter()-t, 2))
        rec.log(f'  finder seed {seed}: LRMIN {r.lr_min:.3g}, LRMAX {r.lr_max:.3g} ({time.perf_counter()-t:.1f} s)')
        del learn; free_memory()
    if R.schedule and R.schedule.get('lr_find'): F_['seeds'][0] = {k: R.schedule['lr_find'][k] for k in ('lr_min', 'lr_max')}
    v = [s['lr_max'] for s in F_['seeds'].values()]
    if len(v) > 1: F_['lr_max_spread'] = dict(min=min(v), max=max(v), ratio=max(v)/min(v))
    rec.save(pack=False)

# ---------------------------------------------------------------------------------------------------------------
# The report printed last
# ---------------------------------------------------------------------------------------------------------------

def _pct(s, k='mean'): return '-' if not s or s.get(k) is None else f'{100*s[k]:.2f}'

def summary_md(S):
    L_ = [f"# GPU runs: {S.get('env', {}).get('device', '?')}", '']
    e = S.get('env', {})
    if e: L_ += [f"versions: {json.dumps(e.get('versions'))}", f"nvidia-smi: {e.get('nvidia_smi', '-')}", '']
    if 'decode' in S: L_ += [f"decode: {S['decode']}", '']
    if 'schedule' in S: L_ += [f"schedule (from the finder in {S['schedule'].get('found_in')}): LRMAX {S['schedule']['lr_max']:.4g}, div {S['schedule']['div']:.4g}", '']
    if S.get('recipes'):
        L_ += ['| recipe | arch | epochs | seeds | accuracy % (mean ± std, min) | flip TTA % | exact1017 % | exact1017 TTA % | fit s (mean) | train() s | ≥94 mean, ≥93 each |',
               '|---|---|---|---|---|---|---|---|---|---|---|']
        for k,r in S['recipes'].items():
            acc = r['accuracy']
            L_.append(f"| {k} | {r['arch']} | {r['epochs']} | {' '.join(map(str, r['seeds']))} | {_pct(acc)} ± {_pct(acc, 'std')}, min {_pct(acc, 'min')} | "
                      f"{_pct(r['tta_accuracy'])} | {_pct(r['exact1017_accuracy'])} | {_pct(r['exact1017_tta_accuracy'])} | "
                      f"{(r['fit_wall_s'] or {}).get('mean', float('nan')):.1f} | {(r['train_call_s'] or {}).get('mean', float('nan')):.1f} | {r['target_94_mean_93_each']} |")
        L_.append('')
    sp = S.get('speed')
    if sp and sp.get('results'):
        L_ += [f"speed: {sp.get('epochs')} epochs x {sp.get('steps_per_epoch')} steps (bs {sp.get('bs')}) + {sp.get('valid_batches')} validation batches, {sp.get('precision')}",
               '| path | epochs | wall s (median) | s/epoch | runs | train images/s | final valid acc |', '|---|---|---|---|---|---|---|']
        for k,v in sp['results'].items():
            if 'error' in v: L_.append(f'| {k} | failed: {v["error"][:80]} | | | | | |'); continue
            w = statistics.median(v['wall_s'])
            L_.append(f"| {k} | {v['epochs']} | {w:.2f} | {w/v['epochs']:.3f} | {len(v['wall_s'])} | {v['images_per_s']:.0f} | {v['final_valid_accuracy'][-1]:.4f} |")
        L_ += ['', f"fastai/plain over {sp.get('epochs')} epochs: {sp.get('fastai_over_plain')} (target <= 1.10); per-epoch ratios: {json.dumps(sp.get('ratios'))}", '']
        for k,v in (sp.get('profiles') or {}).items():
            if k.startswith('sync_sites') and isinstance(v, dict): L_.append(f"{k}: {json.dumps(dict(list(v.items())[:8]))}")
        L_.append('')
    if S.get('compile'): L_ += [f"compile: {json.dumps(S['compile'])}", '']
    if S.get('finder'): L_ += [f"finder spread: {json.dumps(S['finder'].get('lr_max_spread'))}", '']
    L_ += ['stages: ' + ', '.join(f"{k} {v.get('status')} ({v.get('seconds', 0):.0f} s)" for k,v in S.get('stages', {}).items()), '']
    return '\n'.join(L_)

# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------

SMOKE = dict(n_per_class=20, width=0.25, epochs=1, bs=32, seeds=2, lr_find_iters=10, speed_epochs=2, speed_steps=3,
             speed_valid_batches=2, speed_reps=1, variant_epochs=1, ablation_seeds=1, s8_epochs=1, s8_bs=20, finder_spread=2, exact_n=128,
             budget_s=300, run_guess_s=15, compile_guess_s=60, compile_backend='aot_eager')

def parse(argv=None):
    repo = BENCH.parent
    exact = next((str(p) for p in (repo.parent/'shared/data/cifar10-test-exact1017.npz', repo/'.data/cifar10-test-exact1017.npz') if p.exists()), None)
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--out', default=os.environ.get('OUT') or '/tmp/gpu_runs_out', help='folder for what comes back (at most 8 files); default: $OUT')
    p.add_argument('--work', default=None, help='folder for the run folders; default: a new temporary one')
    p.add_argument('--data', default=None, help="CIFAR-10 folder or .tgz; default: untar_data(URLs.CIFAR) under $FASTAI_HOME")
    p.add_argument('--exact', default=exact, help='the 1,017 original-pixel test images (.npz); none: skip')
    p.add_argument('--exact-n', type=int, default=None, help='use only the first N of them (smoke)')
    p.add_argument('--tag', default=None, help="run folder prefix; default: from the device ('h200', 'gpu', 'cpu')")
    p.add_argument('--stages', default=','.join(STAGES), help=f'comma-separated, in this order: {",".join(STAGES)}')
    p.add_argument('--budget-s', type=float, default=540, help='stop starting work after this many seconds; an alarm stops it there')
    p.add_argument('--reserve-s', type=float, default=15, help='seconds kept back for packing the records')
    p.add_argument('--seeds', type=int, default=5, help='seeds 0..N-1 of the session-9 recipe')
    p.add_argument('--ablations', default='anneal,anneal-ls', help=f'recipes for the ablations stage, of {",".join(RECIPES)}')
    p.add_argument('--ablation-seeds', type=int, default=5)
    p.add_argument('--lr-max', type=float, default=None, help='fix LRMAX (skips the finder)')
    p.add_argument('--div', type=float, default=None, help='LRMAX/LRMIN with --lr-max')
    p.add_argument('--schedule-from', default=None, help='with --lr-max: the run whose finder found it, for the records')
    p.add_argument('--finder-per-seed', action='store_true', help='run the LR finder in every run')
    p.add_argument('--finder-spread', type=int, default=4, help='finder stage: seeds 1..N')
    p.add_argument('--lr-find-iters', type=int, default=100)
    p.add_argument('--width', type=float, default=1); p.add_argument('--epochs', type=int, default=24)
    p.add_argument('--bs', type=int, default=512); p.add_argument('--n-per-class', type=int, default=None)
    p.add_argument('--num-workers', type=int, default=0, help='DataBlock path only (CPU); the GPU path reads from the device')
    p.add_argument('--progress', action='store_true', help='progress bars in the train runs (they add a host sync per batch)')
    p.add_argument('--s8-epochs', type=int, default=20); p.add_argument('--s8-bs', type=int, default=128)
    p.add_argument('--speed-reps', type=int, default=2, help='alternations of plain and fastai')
    p.add_argument('--speed-epochs', type=int, default=24)
    p.add_argument('--speed-steps', type=int, default=None, help='steps per epoch; default: one epoch of the data (97)')
    p.add_argument('--speed-valid-batches', type=int, default=None, help='default: the whole validation set (20)')
    p.add_argument('--speed-variants', default='all', help='variants after plain/fastai: all, or a comma-separated list')
    p.add_argument('--variant-epochs', type=int, default=6, help='epochs of each variant; ratios are per epoch')
    p.add_argument('--compile-mode', default=None, help="torch.compile mode (None: default; 'max-autotune-no-cudagraphs', ...)")
    p.add_argument('--compile-backend', default='inductor')
    p.add_argument('--run-guess-s', type=float, default=45, help='estimate of one 24-epoch run before any was measured')
    p.add_argument('--resnet18-factor', type=float, default=3.5, help='ResNet18 run time over a session-9 run, for the estimate')
    p.add_argument('--compile-guess-s', type=float, default=90)
    p.add_argument('--smoke', action='store_true', help=f'tiny CPU run of every stage: {SMOKE}')
    a = p.parse_args(argv)
    if a.smoke:  # the preset, except where the command line says otherwise
        for act in p._actions: act.default = argparse.SUPPRESS
        given = vars(p.parse_args(argv))
        for k,v in SMOKE.items():
            if k not in given: setattr(a, k, v)
    if a.lr_max is not None and a.div is None: a.div = 25.
    if a.exact and not Path(a.exact).exists(): p.error(f'{a.exact} does not exist: pass --exact PATH or --exact ""')
    unknown = (set(a.stages.split(',')) - set(STAGES)) | (set(a.ablations.split(',')) - set(RECIPES) - {''})
    if unknown: p.error(f'unknown stage or recipe: {", ".join(sorted(unknown))}')
    return a

def main(argv=None):
    t0 = T0
    a = parse(argv)
    a.work = a.work or tempfile.mkdtemp(prefix='gpu_runs-')
    rec = Records(a.out, a.work, t0)
    rec.summary['args'] = vars(a)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    B = Budget(t0, a.budget_s, a.reserve_s)
    R = Runner(a, rec, B, device)
    if R.schedule: rec.summary['schedule'] = R.schedule
    stages = a.stages.split(',')
    env = rec.summary['env'] = env_record(device)
    a.tag = a.tag or device_tag(env) + ('-smoke' if a.smoke else '')
    rec.log(f"{env['device']}; {json.dumps(env['versions'])}; work folder {a.work}, out {a.out}, budget {a.budget_s:.0f} s")
    def decode():
        root,kind = cifar_source(a.data)
        fn = cifar_cache_file(root, a.n_per_class)
        existed = fn.exists()
        t = time.perf_counter(); tens = cifar_tensors(root, kind, a.n_per_class)
        rec.summary['decode'] = dict(seconds=round(time.perf_counter()-t, 2), images=len(tens['labels']), cache_file=str(fn),
                                     cache_existed=existed, cache_mib=round(fn.stat().st_size/2**20, 1) if fn.exists() else None,
                                     source=tens['source'])
        rec.log(f"decode: {rec.summary['decode']}")
    work = dict(
        env=lambda: None, decode=decode,
        main=lambda: R.recipe('session9', range(a.seeds)),
        speed=lambda: speed(R),
        session8=lambda: R.run('session8-resnet18', 0, dict(arch='resnet18', epochs=a.s8_epochs, bs=a.s8_bs, pct_start=5/20,
                                                             annihilate=False, cutout=16), kind='resnet18', finder=True),
        ablations=lambda: [R.recipe(k, range(a.ablation_seeds)) for k in a.ablations.split(',') if k],
        finder=lambda: finder_stage(R),
        compile=lambda: compile_stage(R))
    try:
        for s in [s for s in STAGES if s in stages]:
            rec.log(f'== {s} ({B.left():.0f} s left)')
            t = time.perf_counter()
            st = rec.summary['stages'][s] = dict(status='running')
            try: work[s](); st['status'] = 'done'
            except OutOfBudget: st['status'] = 'stopped: out of budget'; raise
            except Exception as e:
                st.update(status='failed', error=f'{type(e).__name__}: {e}')
                rec.log(f'{s} failed:\n{traceback.format_exc()}')
            finally:
                st['seconds'] = round(time.perf_counter()-t, 1)
                if s=='session8' and 'runs' in rec.summary: rec.summary['recipes'] = recipe_table(rec.summary['runs'])
                rec.save()
    except OutOfBudget as e: rec.log(f'stopped: {e}')
    finally:
        B.stop()
        rec.summary['finished'] = time.strftime('%Y-%m-%d %H:%M:%S')
        rec.save()
        print('\n' + (rec.aux/'summary.md').read_text(), flush=True)
        rec.log(f"done in {time.perf_counter()-t0:.0f} s; {a.out}: {', '.join(sorted(os.listdir(a.out)))}")

if __name__ == '__main__': main()
