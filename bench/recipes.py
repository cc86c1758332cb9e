"""Which parts of a recipe pay? Ablations through the project, beside a plain PyTorch loop of Page's recipe.

Every variant is a recipe of `resnet_eva.recipes.recipes` with some settings changed, trained by `train()` exactly as a
user would (device-resident batches, here on the CPU), then scored by `Learner.evaluate`: plain accuracy, flip TTA,
and the 1,017 original-pixel test images. The reference is `page_loop`, David Page's recipe written out in plain
PyTorch on the same network, the same tensors and the same seeds, every number read from `recipes['page']`:
reflect-pad and crop, flip, one cutout square inside the image, Nesterov SGD (weight decay on every weight), mean
cross-entropy, lr linear from LRMAX/div up to LRMAX at `pct_start` and down to 0 at the last step, the last partial
batch dropped.

Runs go seed by seed (every variant for seed 0, then seed 1, ...), one record line each, so a stopped study keeps
whole seeds. The size is reduced (default width 0.125, the first 500 images of each class in each split) so a
run takes minutes on a CPU; the GPU issue re-checks the winner at full size.

    python bench/recipes.py run --seeds 0 1 2        # appends to results/recipes/runs.csv
    python bench/recipes.py table                    # results/recipes/table-<size>.md from runs.csv
"""
import argparse, csv, json, statistics, subprocess, tempfile, time
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
import fastai
from resnet_eva.data import cifar_source, cifar_tensors, cifar_stats
from resnet_eva.learner import cifar_model, exact_images
from resnet_eva.recipes import recipes
from resnet_eva.runs import train, device_name

OUT = Path(__file__).parent.parent/'results'/'recipes'
EXACT = Path(__file__).parent.parent.parent/'shared'/'data'/'cifar10-test-exact1017.npz'
PAGE = recipes['page']

# Each variant: (recipe, settings changed). `page` is Page's recipe through the project; each `page-…` variant puts
# back one of session 9's choices, to price it; `onecycle` is fastai's one cycle at Page's peak (all four put back).
VARIANTS = {
    'page':          ('page', {}),
    'page-cos':      ('page', dict(shape='cos')),
    'page-cyclemom': ('page', dict(mom=None)),
    'page-nonest':   ('page', dict(opt='sgd')),
    'page-zeropad':  ('page', dict(pad_mode='zeros')),
    'onecycle':      ('session9', {k: PAGE[k] for k in ('lr_max', 'div', 'annihilate')}),
    'page+ls':       ('page', dict(label_smoothing=0.2)),
    'session9':      ('session9', {}),
}
FIELDS = ['variant', 'recipe', 'changes', 'seed', 'width', 'n_per_class', 'epochs', 'bs', 'lr_min', 'lr_max',
          'accuracy', 'tta_accuracy', 'exact_accuracy', 'exact_tta_accuracy', 'train_loss', 'seconds', 'device',
          'torch', 'fastai', 'commit', 'date']

def commit():
    try: return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                               cwd=Path(__file__).parent).stdout.strip()
    except OSError: return '?'

# ---------------------------------------------------------------------------------------------------------------------
# The plain loop

def page_augment(x, gen, pad=PAGE['pad'], cutout=PAGE['cutout']):
    "Page's augmentations on a uint8 batch: reflect-pad and random crop, flip, one cutout square inside, normalise"
    assert PAGE['pad_mode']=='reflection'
    b = len(x)
    x = x.float()/255
    xp = F.pad(x, (pad,)*4, mode='reflect')
    dy, dx = torch.randint(0, 2*pad+1, (2, b), generator=gen)
    x = torch.stack([xp[i, :, dy[i]:dy[i]+32, dx[i]:dx[i]+32] for i in range(b)])
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in cifar_stats)
    cy, cx = torch.randint(0, 32-cutout+1, (2, b), generator=gen)
    for i in range(b): x[i, :, cy[i]:cy[i]+cutout, cx[i]:cx[i]+cutout] = mean[0]  # the mean: 0 after normalising
    return (x-mean)/std

def normalise(x):
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in cifar_stats)
    return (x.float()/255-mean)/std

@torch.no_grad()
def accuracies(model, x, y, bs=1024):
    "Plain and flip-TTA accuracy of `model` on uint8 images `x`"
    model.eval()
    p = torch.cat([F.softmax(model(normalise(x[i:i+bs])), 1) for i in range(0, len(x), bs)])
    pf = torch.cat([F.softmax(model(normalise(x[i:i+bs]).flip(-1)), 1) for i in range(0, len(x), bs)])
    return (p.argmax(1)==y).float().mean().item(), ((p+pf).argmax(1)==y).float().mean().item()

def page_loop(seed, width, n_per_class, epochs, bs=PAGE['bs'], lr_max=PAGE['lr_max'], data=None, exact=None):
    "Page's recipe in plain PyTorch; the same data tensors and network as the project's runs"
    torch.manual_seed(seed); np.random.seed(seed)
    t = cifar_tensors(*cifar_source(data), n_per_class)
    tr, va = ~t['is_valid'], t['is_valid']
    xt, yt, xv, yv = t['images'][tr], t['labels'][tr], t['images'][va], t['labels'][va]
    model = cifar_model('custom', width, len(t['vocab'])).to(memory_format=torch.channels_last)  # as `cifar_learner`
    opt = torch.optim.SGD(model.parameters(), lr=0., momentum=PAGE['mom'], nesterov=PAGE['opt']=='nesterov',
                          weight_decay=PAGE['wd'])
    steps_per_epoch = len(xt)//bs
    total, up = epochs*steps_per_epoch, PAGE['pct_start']*epochs*steps_per_epoch
    lr_at = lambda s: np.interp(s, [0, up, total], [lr_max/PAGE['div'], lr_max, 0.])  # Page's: down to 0
    gen = torch.Generator().manual_seed(seed)
    t0, step = time.perf_counter(), 0
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        losses = []
        for i in range(steps_per_epoch):
            idx = perm[i*bs:(i+1)*bs]
            for g in opt.param_groups: g['lr'] = lr_at(step)
            loss = F.cross_entropy(model(page_augment(xt[idx], gen)), yt[idx])
            opt.zero_grad(); loss.backward(); opt.step(); step += 1
            losses.append(loss.detach())
        train_loss = torch.stack(losses).mean().item()
    secs = time.perf_counter()-t0
    acc, tta = accuracies(model, xv, yv)
    r = dict(accuracy=acc, tta_accuracy=tta, train_loss=train_loss, seconds=secs, lr_min=lr_max/PAGE['div'], lr_max=lr_max)
    if exact:
        xe, ye = exact_images(exact, t['vocab'])
        r['exact_accuracy'], r['exact_tta_accuracy'] = accuracies(model, torch.tensor(np.stack(xe)).permute(0,3,1,2),
                                                                  torch.tensor(ye))
    return r

# ---------------------------------------------------------------------------------------------------------------------
# The project's runs

def project_run(recipe, changes, seed, width, n_per_class, epochs, data=None, exact=None):
    "One run of `recipe` with `changes` through `train`, scored by `Learner.evaluate`"
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        learn = train(Path(d)/'run', recipe, data=data, num_workers=0, progress=False, seed=seed, width=width,
                      n_per_class=n_per_class, epochs=epochs, on_device=True, **changes)
        secs = time.perf_counter()-t0
        cfg = json.loads((Path(d)/'run'/'config.json').read_text())
        hist = list(csv.DictReader(open(Path(d)/'run'/'history.csv')))
    ev = learn.evaluate(exact)
    return dict(accuracy=ev['valid_accuracy'], tta_accuracy=ev['valid_tta_accuracy'],
                exact_accuracy=ev.get('exact_accuracy'), exact_tta_accuracy=ev.get('exact_tta_accuracy'),
                train_loss=float(hist[-1]['train_loss']), seconds=secs, lr_min=cfg['lr_min'], lr_max=cfg['lr_max'])

def run(a):
    OUT.mkdir(parents=True, exist_ok=True)
    fn = OUT/'runs.csv'
    done = {(r['variant'], int(r['seed']), float(r['width']), int(r['n_per_class']), int(r['epochs']))
            for r in csv.DictReader(open(fn))} if fn.exists() else set()
    names = ['plain-page'] + list(VARIANTS) if a.variants is None else a.variants
    for seed in a.seeds:
        for v in names:
            if (v, seed, a.width, a.n_per_class, a.epochs) in done: continue
            t0 = time.perf_counter()
            if v=='plain-page': recipe, changes, r = '-', {}, page_loop(seed, a.width, a.n_per_class, a.epochs,
                                                                          data=a.data, exact=a.exact)
            else:
                recipe, changes = VARIANTS[v]
                r = project_run(recipe, changes, seed, a.width, a.n_per_class, a.epochs, a.data, a.exact)
            row = dict(variant=v, recipe=recipe, changes=' '.join(f'{k}={x}' for k,x in changes.items()) or '-',
                       seed=seed, width=a.width, n_per_class=a.n_per_class, epochs=a.epochs, bs=recipes.get(recipe, PAGE)['bs'],
                       device=device_name(torch.device('cpu')), torch=torch.__version__, fastai=fastai.__version__,
                       commit=commit(), date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())) | r
            new = not fn.exists()
            with open(fn, 'a', newline='') as f:
                w = csv.DictWriter(f, FIELDS, extrasaction='ignore')
                if new: w.writeheader()
                w.writerow({k: (f'{x:.4f}' if isinstance(x, float) else x) for k,x in row.items()})
            print(f"{v:14} seed {seed}: accuracy {r['accuracy']:.4f}, TTA {r['tta_accuracy']:.4f}, "
                  f"exact {r.get('exact_accuracy') or float('nan'):.4f}, {time.perf_counter()-t0:.0f} s", flush=True)

# ---------------------------------------------------------------------------------------------------------------------
# The table

def ms(v): return (f'{100*statistics.mean(v):.2f} ± {100*statistics.stdev(v):.2f}' if len(v) > 1 else
                   f'{100*v[0]:.2f}' if v else '–')

def paired(rs, page):
    "Accuracy minus `page`'s on the same seeds, in points: each seed's, then the mean"
    d = [100*(float(r['accuracy'])-page[r['seed']]) for r in rs if r['seed'] in page]
    return '–' if not d else ', '.join(f'{o:+.1f}' for o in d) + f' (mean {statistics.mean(d):+.1f})'

def table(a):
    size = dict(width=a.width, n_per_class=a.n_per_class, epochs=a.epochs)
    rows = [r for r in csv.DictReader(open(OUT/'runs.csv')) if all(float(r[k])==v for k,v in size.items())]
    by = {}
    for r in rows: by.setdefault(r['variant'], []).append(r)
    order = ['plain-page'] + list(VARIANTS)
    lines = ['| variant | recipe | changes | seeds | accuracy % | flip TTA % | original pixels % | Δ vs page, same seeds |'
             ' s a run |', '|---|---|---|---|---|---|---|---|---|']
    page = {r['seed']: float(r['accuracy']) for r in by.get('page', [])}
    for v in [o for o in order if o in by]:
        rs = by[v]
        f = lambda k: [float(r[k]) for r in rs if r[k] not in ('', 'None')]
        lines.append(f"| {v} | {rs[0]['recipe']} | {rs[0]['changes']} | {','.join(r['seed'] for r in rs)} | "
                     f"{ms(f('accuracy'))} | {ms(f('tta_accuracy'))} | {ms(f('exact_accuracy'))} | "
                     f"{paired(rs, page)} | {statistics.mean(f('seconds')):.0f} |")
    r0 = rows[0]
    head = (f"# Recipe ablations (reduced size)\n\nCIFAR-10 (JPEG copy), first {r0['n_per_class']} training images per "
            f"class, first {r0['n_per_class']} test images per class; custom ResNet at width {r0['width']}, {r0['epochs']} epochs, batch "
            f"{r0['bs']}; {r0['device']}; torch {r0['torch']}, fastai {r0['fastai']}. Mean ± std over the seeds "
            f"listed. Generated by `python bench/recipes.py table` from `runs.csv`.\n\n")
    (OUT/f"table-w{a.width}-n{a.n_per_class}-e{a.epochs}.md").write_text(head + '\n'.join(lines) + '\n')
    print(head + '\n'.join(lines))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('cmd', choices=['run', 'table'])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--variants', nargs='+', default=None, help="default: plain-page and every variant")
    p.add_argument('--width', type=float, default=0.125)
    p.add_argument('--n-per-class', type=int, default=500)
    p.add_argument('--epochs', type=int, default=24)
    p.add_argument('--data', default=None)
    p.add_argument('--exact', default=str(EXACT) if EXACT.exists() else None)
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    (run if a.cmd=='run' else table)(a)

if __name__ == '__main__': main()
