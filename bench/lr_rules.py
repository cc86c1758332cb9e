"""Which LR-finder rule gives an LRMIN and an LRMAX that do not depend on the seed? A measurement, not a test.

Runs fastai's LR finder once per seed on the same data and network (`find`), saves each raw curve, then applies every
candidate rule offline to the saved curves (`rules`) and reports LRMIN and LRMAX per seed and their spread (max/min
over seeds). `train` checks that a rule's pair trains well with the course's schedule.

    python bench/lr_rules.py find  --seeds 0 1 2 3 4      # 5-13 min a seed on the shared 2-core CPU: curve-seed{N}.csv
    python bench/lr_rules.py rules --seeds 0 1 2 3 4      # offline: results/lr_rules/rules.csv and rules.md
    python bench/lr_rules.py plot  --seeds 0 1 2 3 4      # results/lr_rules/curves.png
    python bench/lr_rules.py train --seeds 0 1 --rules floor10 course --epochs 8
    python bench/lr_rules.py check                        # seconds: `steepest_fall` (the course's LRMIN) on made-up curves
"""
import argparse, csv, datetime, math, os, platform, statistics, subprocess, sys, time
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
import fastai
from fastai.vision.all import Callback, CancelValidException, set_seed, valley, slide, steep, minimum, tensor
from resnet_eva.data import cifar_dls
from resnet_eva.learner import cifar_learner, unsmooth, centred, near_floor  # the chosen rule
from resnet_eva.recipes import recipes

OUT = Path(__file__).resolve().parent.parent/'results'/'lr_rules'
DATA = 'CIFAR-10 (JPEG copy, ~/.fastai/data/cifar10), first 1,000 training images per class, all 10,000 test images'
S9 = recipes['session9']  # the course's batch size, weight decay, schedule and LR-finder iterations
NET = f"custom ResNet (the course's), width 0.25, batch {S9['bs']}, SGD momentum, wd {S9['wd']:g}, fp32, CPU"
NUM_IT = S9['lr_find_iters']

# ---------------------------------------------------------------------------------------------------------------------
# Candidate suggestion functions, (lrs, losses, num_it) -> (lr, (lr, loss)) as fastai's `valley` and `steep`.
# The chosen rule is `near_floor` (below): LRMIN = near_floor, LRMAX = 10 x near_floor.

def steepest_fall(lrs, # Learning rates tried, increasing
                  losses, # Smoothed loss at each
                  num_it:int, # Iterations of the probe: the slope is measured across `num_it//20` points
                 )->tuple: # (suggested lr, (lr, loss) to mark), as fastai's suggestion functions return
    "The course's LRMIN: where the loss falls fastest on its way down to its minimum; fastai's `steep`, over a window"
    i = int(losses.argmin())
    k = min(max(1, num_it//20), i)
    if not k: return None, (None, None)
    l,L = lrs[:i+1], losses[:i+1]
    j = int(((L[k:]-L[:-k])/(l[k:].log()-l[:-k].log())).argmin()) + k//2  # the middle of the steepest window
    return l[j].item(), (l[j].item(), L[j].item())

def check():
    "`steepest_fall` on made-up curves: it skips a dip of noise and a dip past the minimum, where `steep` does not"
    lrs = torch.logspace(-7, 1, 100)
    x = lrs.log10()  # falls fastest around 1e-3, lowest around 0.1; a one-point dip at 1e-6 and a sharp one at 3
    losses = 2.7 - 0.5*torch.sigmoid(4*(x+3)) + 3*F.relu(x+1)**2
    losses[x.sub(0.5).abs().argmin()] -= 1.
    losses[x.add(6).abs().argmin()] -= 0.05
    i = int(losses.argmin())
    assert 0.08 < lrs[i] < 0.12
    assert steep(lrs, losses, 100)[0] > 1
    assert 0.7e-6 < steep(lrs[:i+1], losses[:i+1], 100)[0] < 1.2e-6
    assert 0.7e-3 < steepest_fall(lrs, losses, 100)[0] < 1.5e-3
    assert steepest_fall(lrs[:i+1], losses[:i+1], 19) == steep(lrs[:i+1], losses[:i+1], 19)  # a window of 1: `steep`
    assert steepest_fall(lrs, lrs*0+1, 100)[0] is None  # flat: the minimum is the first point
    print('steepest_fall: all checks passed')

def fall_frac(lrs, # Learning rates tried, increasing (fastai passes `recorder.lrs[num_it//10:-5]`)
              losses, # Smoothed loss at each
              num_it:int, # Iterations of the probe (unused: kept for fastai's signature)
              frac:float=0.5, # Fraction of the fall, from the first point to the minimum, that the loss has made
             )->tuple: # (suggested lr, (lr, loss) to mark)
    "The first lr at which the smoothed loss has made `frac` of its fall from the start of the curve to its minimum"
    losses = torch.as_tensor(losses, dtype=torch.float64); lrs = torch.as_tensor(lrs, dtype=torch.float64)
    i = int(losses.argmin())
    if i == 0: return None, (None, None)
    level = losses[0] - frac*(losses[0]-losses[i])
    j = int(torch.nonzero(losses[:i+1] <= level)[0])
    if j == 0: return lrs[0].item(), (lrs[0].item(), losses[0].item())
    # interpolate on the log-lr axis between the two points either side of `level`
    t = float((losses[j-1]-level)/(losses[j-1]-losses[j]))
    lr = math.exp((1-t)*math.log(lrs[j-1]) + t*math.log(lrs[j]))
    return lr, (lr, level.item())

def fall_half(lrs, losses, num_it): return fall_frac(lrs, losses, num_it, 0.5)
def fall_tenth(lrs, losses, num_it): return fall_frac(lrs, losses, num_it, 0.1)
def fall_quarter(lrs, losses, num_it): return fall_frac(lrs, losses, num_it, 0.25)
def fall_90(lrs, losses, num_it): return fall_frac(lrs, losses, num_it, 0.9)

def lowest(lrs, losses, num_it):
    "The lr at the smoothed loss's minimum (10x fastai's `minimum`): the course's LRMAX"
    i = int(torch.as_tensor(losses).argmin())
    return float(lrs[i]), (float(lrs[i]), float(losses[i]))

# ---------------------------------------------------------------------------------------------------------------------
# Finder runs

class RawLoss(Callback):
    "Record each training batch's unsmoothed loss and lr (fastai's Recorder keeps only the smoothed loss)"
    order = 60
    def before_fit(self): self.raw, self.lrs = [], []
    def after_batch(self):
        if self.training: self.raw.append(self.learn.loss.item()); self.lrs.append(self.opt.hypers[-1]['lr'])

def env_header():
    try: commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                                 cwd=OUT.parent.parent).stdout.strip()
    except Exception: commit = '?'
    return [f'date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}',
            f'machine: {platform.machine()} 2-core AMD EPYC (shared with other agents), torch threads {torch.get_num_threads()}',
            f'versions: python {platform.python_version()}, torch {torch.__version__}, fastai {fastai.__version__}; commit {commit}',
            f'data: {DATA}', f'network: {NET}',
            f'finder: fastai lr_find(start_lr=1e-7, end_lr=10, num_it={NUM_IT}, stop_div=True), once per seed; '
            'set_seed(seed, reproducible=True) before building the learner',
            f'command: {" ".join(["python", *sys.argv])}']

def find(seeds, num_it=NUM_IT):
    OUT.mkdir(parents=True, exist_ok=True)
    dls = cifar_dls(bs=S9['bs'], n_per_class=1000, num_workers=0, on_device=True, device='cpu')
    for s in seeds:
        set_seed(s, reproducible=True)
        learn = cifar_learner(dls, arch='custom', width=0.25, path=OUT/'tmp')
        cb = RawLoss()
        t = time.perf_counter()
        with learn.no_bar(): _find_with(learn, cb, num_it)
        dt = time.perf_counter()-t
        lrs, sm = learn.recorder.lrs, [float(o) for o in learn.recorder.losses]
        assert len(cb.raw) == len(lrs), (len(cb.raw), len(lrs))
        fn = OUT/f'curve-seed{s}.csv'
        with open(fn.with_suffix('.tmp'), 'w') as f:
            f.write('\n'.join(f'# {o}' for o in env_header()) + f'\n# seed {s}; finder time {dt:.1f} s\n')
            w = csv.writer(f); w.writerow(['iter', 'lr', 'raw_loss', 'smooth_loss'])
            for i,(lr,r,m) in enumerate(zip(lrs, cb.raw, sm)): w.writerow([i+1, f'{lr:.6e}', f'{r:.6f}', f'{m:.6f}'])
        fn.with_suffix('.tmp').replace(fn)
        print(f'seed {s}: {len(lrs)} points, {dt:.1f} s -> {fn}', flush=True)

def _find_with(learn, cb, num_it):
    "fastai's `lr_find` takes no callbacks: add ours for the call"
    learn.add_cb(cb)
    try: learn.lr_find(num_it=num_it, show_plot=False, suggest_funcs=None)
    finally: learn.remove_cb(cb)

def load_curve(s):
    rows = [r for r in csv.reader(l for l in open(OUT/f'curve-seed{s}.csv') if not l.startswith('#'))][1:]
    a = np.array([[float(x) for x in r[1:]] for r in rows])
    return a[:,0], a[:,1], a[:,2]

# ---------------------------------------------------------------------------------------------------------------------
# Rules

def suggest(f, lrs, losses, num_it=NUM_IT):
    "Apply suggestion function `f` as `lr_find` does: to points `num_it//10` to `-5`, stopping at the first NaN"
    l, L = tensor(lrs[num_it//10:-5]), tensor(losses[num_it//10:-5])
    nan = torch.nonzero(torch.isnan(L.view(-1)))
    if len(nan): l, L = l[:int(nan.min())], L[:int(nan.min())]
    return f(l, L, num_it)[0]

def resmoothed(f, sigma=4.):
    "Suggestion function `f` applied to the raw losses behind fastai's, smoothed with no lag (`centred`)"
    def _f(lrs, losses, num_it):
        return f(torch.as_tensor(lrs)[1:], centred(unsmooth(losses, num_it), sigma).float(), num_it)
    _f.__name__ = f'c_{f.__name__}'
    return _f

FUNCS = dict(steepest_fall=steepest_fall, valley=valley, slide=slide, steep=steep, minimum=minimum, lowest=lowest,
             fall_tenth=fall_tenth, fall_quarter=fall_quarter, fall_half=fall_half, fall_90=fall_90)
FUNCS.update({f'c_{k}': resmoothed(v) for k,v in FUNCS.items()})
FUNCS['near_floor'] = near_floor

# LRMIN and LRMAX of each rule: (suggestion function, factor)
PAIRS = dict(course=(('steepest_fall', 1), ('lowest', 1)), steep=(('steep', 1), ('lowest', 1)),
             valley=(('valley', 1), ('lowest', 1)), slide=(('slide', 1/10), ('slide', 1)),
             minimum=(('minimum', 1), ('lowest', 1)), div25=(('lowest', 1/25), ('lowest', 1)),
             fall_half=(('fall_half', 1), ('lowest', 1)), fall_90=(('fall_90', 1), ('lowest', 1)),
             c_minimum=(('c_minimum', 1), ('lowest', 1)), near_floor=(('near_floor', 1), ('lowest', 1)),
             floor10=(('near_floor', 1), ('near_floor', 10)), fall90_div10=(('fall_90', 1/10), ('fall_90', 1)))

def pair_value(spec, lrs, sm, num_it=NUM_IT):
    f, k = spec
    v = suggest(FUNCS[f], lrs, sm, num_it)
    return None if v is None else v*k

def spread(v): return max(v)/min(v) if all(o is not None and o > 0 for o in v) else float('nan')

HOLDOUT = OUT.parent/'cpu-custom-w0.25-8ep'/'lr_find.csv'  # seed 42, all 50,000 images: the committed run's curve

def load_holdout():
    a = np.loadtxt(HOLDOUT, delimiter=',', skiprows=1)
    return a[:,0], None, a[:,1]

def rules(seeds, num_it=NUM_IT):
    "Every suggestion function and every rule's (LRMIN, LRMAX) on each seed's curve, and their spreads over the seeds"
    curves = {s: load_curve(s) for s in seeds}
    for s,(lrs,raw,sm) in curves.items():  # check `unsmooth` against the recorded raw losses
        u = unsmooth(torch.tensor(sm[num_it//10:-5]), num_it)
        err = float((u-torch.tensor(raw[num_it//10+1:-5])).abs().max())
        print(f'seed {s}: unsmooth max error {err:.2e} (losses saved to 6 decimals)')
    if HOLDOUT.exists(): curves['42-full'] = load_holdout()
    cols = list(curves)
    fv = {nm: [suggest(f, c[0], c[2], num_it) for c in curves.values()] for nm,f in FUNCS.items()}
    lines = [f"| function | {' | '.join(f'seed {c}' for c in cols)} | spread (seeds {seeds[0]}-{seeds[-1]}) |",
             '|---|' + '---|'*(len(cols)+1)]
    for nm,v in fv.items():
        lines.append(f"| `{nm}` | {' | '.join('-' if o is None else f'{o:.2e}' for o in v)} | {spread(v[:len(seeds)]):.1f} |")
    tab1 = '\n'.join(lines)
    rows, lines = [], [f"| rule | LRMIN | LRMAX | {' | '.join(f'seed {c}' for c in cols)} | spread LRMIN | spread LRMAX |",
                       '|---|---|---|' + '---|'*(len(cols)+2)]
    for nm,(lo,hi) in PAIRS.items():
        v = [(pair_value(lo, c[0], c[2], num_it), pair_value(hi, c[0], c[2], num_it)) for c in curves.values()]
        sl, sh = spread([o[0] for o in v[:len(seeds)]]), spread([o[1] for o in v[:len(seeds)]])
        desc = lambda sp: sp[0] if sp[1]==1 else f'{sp[0]}/{round(1/sp[1])}' if sp[1]<1 else f'{sp[1]:g}x{sp[0]}'
        lines.append(f"| {nm} | `{desc(lo)}` | `{desc(hi)}` | " +
                     ' | '.join(f'{a:.2e} → {b:.2e}' if a and b else '-' for a,b in v) + f' | {sl:.1f} | {sh:.1f} |')
        for c,(a,b) in zip(cols, v): rows.append(dict(rule=nm, lr_min_func=desc(lo), lr_max_func=desc(hi), seed=c,
                                                      lr_min=a, lr_max=b, spread_lr_min=sl, spread_lr_max=sh))
    tab2 = '\n'.join(lines)
    head = '\n'.join(f'<!-- {o} -->' for o in env_header())
    note = (f'Seeds {seeds}: `curve-seed{{N}}.csv`. Column `seed 42-full` is the committed run\'s curve '
            f'(`{HOLDOUT.relative_to(OUT.parent.parent)}`: seed 42, all 50,000 training images, smoothed losses only), '
            'a check outside the 5 seeds; the spreads use the 5 seeds only. '
            'Functions prefixed `c_` are applied to the raw losses recovered from fastai\'s smoothed ones (`unsmooth`) '
            'and smoothed with no lag (`centred`). Each function is applied as `lr_find` applies it: to points '
            '`num_it//10` to `-5` of the curve.')
    md = f'{head}\n\n# LR-finder rules over seeds\n\n{note}\n\n## Rules: (LRMIN, LRMAX) per seed\n\n{tab2}\n\n' \
         f'## Each suggestion function per seed\n\n{tab1}\n'
    (OUT/'rules.md').write_text(md)
    with open(OUT/'rules.csv', 'w') as f:
        f.write('\n'.join(f'# {o}' for o in env_header()) + '\n')
        w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
    print(tab2); print(); print(tab1)

def plot(seeds, num_it=NUM_IT):
    "Each seed's curve, raw and smoothed both ways, with the chosen rule's LRMIN and LRMAX and the course's LRMIN"
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, len(seeds), figsize=(3.6*len(seeds), 3.4), sharey=True)
    for ax, s in zip(axs, seeds):
        lrs, raw, sm = load_curve(s)
        ax.plot(lrs, raw, lw=.6, alpha=.5, label='raw'); ax.plot(lrs, sm, label='fastai smoothed')
        ax.plot(lrs, centred(raw), label='lag-free smoothed')
        lo, hi = pair_value(PAIRS['floor10'][0], lrs, sm), pair_value(PAIRS['floor10'][1], lrs, sm)
        ax.axvline(lo, c='C3', ls='--', label=f'near_floor {lo:.1e}'); ax.axvline(hi, c='C3', label=f'10x {hi:.1e}')
        old = pair_value(PAIRS['course'][0], lrs, sm)
        ax.axvline(old, c='k', ls=':', label=f'course LRMIN {old:.1e}')
        ax.set(xscale='log', ylim=(1.9, 4), title=f'seed {s}', xlabel='learning rate'); ax.legend(fontsize=6)
    axs[0].set_ylabel('training loss')
    fig.suptitle(f"LR finder, custom ResNet width 0.25, batch {S9['bs']}, CIFAR-10 1,000 images/class, CPU", fontsize=9)
    fig.tight_layout(); fig.savefig(OUT/'curves.png', dpi=80)

class LastValidation(Callback):
    "Validate after the last epoch only: the check needs the final accuracy, and the CPU is shared"
    def before_validate(self):
        if self.epoch < self.n_epoch-1: raise CancelValidException()

def train(seeds, names, epochs, num_it=NUM_IT):
    "Train with each rule's (LRMIN, LRMAX) read off the same seed's curve: the course's schedule, no annihilation"
    fn = OUT/'train.csv'
    rows = list(csv.DictReader(l for l in open(fn) if not l.startswith('#'))) if fn.exists() else []
    dls = cifar_dls(bs=S9['bs'], n_per_class=1000, num_workers=0, on_device=True, device='cpu')
    for s in seeds:
        lrs, raw, sm = load_curve(s)
        for nm in names:
            lo, hi = PAIRS[nm]
            lr_min, lr_max = pair_value(lo, lrs, sm, num_it), pair_value(hi, lrs, sm, num_it)
            set_seed(s, reproducible=True)
            learn = cifar_learner(dls, arch='custom', width=0.25, path=OUT/'tmp')
            t = time.perf_counter()
            with learn.no_bar(), learn.no_logging():
                learn.fit_one_cycle(epochs, lr_max, div=lr_max/lr_min, div_final=lr_max/lr_min,
                                    pct_start=S9['pct_start'], cbs=LastValidation())
            dt = time.perf_counter()-t
            loss, acc = learn.recorder.values[-1][1:3]
            rows.append(dict(rule=nm, seed=s, epochs=epochs, lr_min=f'{lr_min:.3e}', lr_max=f'{lr_max:.3e}',
                             div=f'{lr_max/lr_min:.1f}', train_loss=f'{learn.recorder.values[-1][0]:.4f}',
                             valid_loss=f'{loss:.4f}', accuracy=f'{acc:.4f}', seconds=f'{dt:.0f}'))
            print(rows[-1], flush=True)
            with open(fn.with_suffix('.tmp'), 'w') as f:
                f.write('\n'.join(f'# {o}' for o in env_header()) + '\n# schedule: fit_one_cycle(epochs, lr_max, '
                        f"div=lr_max/lr_min, div_final=lr_max/lr_min, pct_start={S9['pct_start']:.4g}); accuracy on all 10,000 test images "
                        'after the last epoch (no validation before it)\n')
                w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
            fn.with_suffix('.tmp').replace(fn)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('what', choices=['find', 'rules', 'plot', 'train', 'check'])
    p.add_argument('--rules', nargs='+', default=['course'])
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    a = p.parse_args()
    if a.what == 'find': find(a.seeds)
    if a.what == 'rules': rules(a.seeds)
    if a.what == 'plot': plot(a.seeds)
    if a.what == 'train': train(a.seeds, a.rules, a.epochs)
    if a.what == 'check': check()
