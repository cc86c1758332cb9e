"""The GPU issue's measurements in one process, for one device call: a driver that calls the library, not a test.

Stages, each with its own time budget; one stage's failure or overrun is recorded and the next one still runs:

- `main`: `--seeds` seeds of each recipe of `--recipes` through `train`, interleaved by seed so that every recipe
  has as many seeds when time runs out. `train` records each run's accuracy plain and with flip TTA, and on the
  1,017 original-pixel test images (`--exact`). The table is `results_table`'s.
- `speed`: the fastai `Learner` against the plain PyTorch loop, same weights and batches (`fastai_vs_torch.compare`).
- `sync`: a short `train` run under `count_syncs` (CUDA's sync debug mode on a GPU), by phase of the fit and call site.
- `cuda`: the library notebooks that have `#| cuda` cells, run as `nbdev-test --flags cuda` runs them
  (`tools/run_notebooks.py --flags cuda`: every test of those notebooks, the GPU-only cells included).
- `notebooks`: the experiment notebooks, executed and saved by `tools/run_notebooks.py`.

Run folders go under `--work`; `--out` gets `summary.md`, `summary.json` and `records.tar.gz` (the work folder
without weights), rewritten after every run and stage. The recipe table's settings are options (`--width 0.25`,
`--epochs 1`, ...). On the CPU the very same code runs, on a tiny subset:

    python bench/gpu_runs.py --out $OUT --exact .data/cifar10-test-exact1017.npz
    python bench/gpu_runs.py --out /tmp/o --seeds 2 --width 0.25 --epochs 1 --n-per-class 20 --bs 32 --speed-steps 2
"""
import time
T0 = time.perf_counter()  # the budget counts the imports too
import argparse, ast, gc, json, os, shutil, signal, subprocess, sys, tarfile, tempfile, traceback
from pathlib import Path
import numpy as np, pandas as pd, torch
from fastai.vision.all import default_device
sys.path.insert(0, str(Path(__file__).resolve().parent))
import fastai_vs_torch
from resnet_eva.recipes import settings, get_recipe, RunError
from resnet_eva.data import atomic_write
from resnet_eva.records import read_run
from resnet_eva.runs import train, device_name
from resnet_eva.diagnostics import count_syncs
from resnet_eva.interpret import results_table

REPO = Path(__file__).resolve().parent.parent
def say(*args): print(f'[{time.perf_counter()-T0:6.1f}s]', *args, flush=True)
def _json(fn, d): atomic_write(fn, lambda f: Path(f).write_text(json.dumps(d, indent=2, default=str)+'\n'))

# Stages: each fills `res` as it goes, so that an overrun keeps what was done
def main_stage(a, res, deadline):
    last = 0.
    for seed in range(a.seeds):
        for recipe in a.recipes:
            d,t = a.work/'runs'/f'{recipe}-seed{seed}', time.perf_counter()
            if t+last > deadline: say(f'skip {d.name}: the last run took {last:.0f} s'); continue
            try: train(d, recipe, a.data, a.num_workers, progress=False, seed=seed, exact=a.exact, **a.overrides)
            except Exception as e:
                res[d.name] = dict(recipe=recipe, seed=seed, error=f'{type(e).__name__}: {e}')
                say(f'{d.name} failed: {e}'); continue
            finally: gc.collect(); torch.cuda.empty_cache()
            last,m = time.perf_counter()-t, read_run(d)['metrics']
            res[d.name] = dict(recipe=recipe, seed=seed, fit_s=m['wall_s'], train_s=round(last, 2),
                               **{k: m.get(k) for k in ('accuracy', 'tta_accuracy', 'exact_accuracy',
                                                        'exact_tta_accuracy')})
            say(f"{d.name}: accuracy {m['accuracy']:.4f}, flip TTA {m['tta_accuracy']:.4f}"
                + ('' if a.exact is None else
                   f", original pixels {m['exact_accuracy']:.4f} (TTA {m['exact_tta_accuracy']:.4f})")
                + f"; fit {m['wall_s']:.1f} s, train() {last:.1f} s")
            save(a)

def speed_stage(a, res, deadline):
    r = get_recipe(a.recipes[0], **a.overrides)
    res |= fastai_vs_torch.compare(r['arch'], r['width'], r['bs'], a.speed_steps, reps=a.speed_reps,
                                   warmup=min(10, a.speed_steps), data=a.data, say=say)

def sync_stage(a, res, deadline):
    "A 2-epoch `train` run counting reads back to the host (CUDA's sync debug mode on a GPU) by phase and call site"
    with count_syncs() as sc:
        # the GPU's path (batches kept on the device) on any device, so that a CPU rehearsal counts what a GPU run does
        train(a.work/'sync', a.recipes[0], a.data, a.num_workers, False, [sc],
              **dict(epochs=2, lr_max=.4, on_device=True) | a.overrides)
    res.update(sc.summary())
    say(f"sync: {res['syncs']} in {res['batches']} batches; per training batch {res['per_train_batch']}, "
        f"per validation batch {res['per_valid_batch']}, per epoch {res['per_epoch']}; blocking copies per training "
        f"batch {res['copies_per_train_batch']}, per validation batch {res['copies_per_valid_batch']}")

def _run_notebooks(args, deadline):
    "`tools/run_notebooks.py ARGS`, stopped at `deadline`: (exit code, seconds, the output's tail)"
    t = time.perf_counter()
    p = subprocess.run([sys.executable, REPO/'tools/run_notebooks.py', *args, '--timeout', str(int(deadline-t))],
                       capture_output=True, text=True)  # an alarm here kills the child
    return dict(rc=p.returncode, seconds=round(time.perf_counter()-t, 1), output=(p.stdout+p.stderr)[-2000:])

def cuda_stage(a, res, deadline):
    "The library notebooks with `#| cuda` cells, every cell as `nbdev-test --flags cuda` runs them"
    nbs = [f for f in sorted((REPO/'nbs').glob('[0-9]*.ipynb')) if '#| cuda' in f.read_text()]
    flags = 'cuda' if torch.cuda.is_available() else ''  # a rehearsal on the CPU runs what `nbdev-test` runs there
    res.update(notebooks=[f.name for f in nbs], flags=flags or None, **_run_notebooks([*nbs, '--flags', flags], deadline))
    say(f"cuda: {', '.join(res['notebooks'])}: exit code {res['rc']} in {res['seconds']} s")
    if res['rc']: raise RuntimeError(f"exit code {res['rc']}: {res['output'][-400:]}")

def notebooks_stage(a, res, deadline):
    (a.work/'notebooks').mkdir(exist_ok=True)
    for nb in a.notebooks:
        res[nb.name] = r = _run_notebooks([nb, '--save'], deadline)
        say(f'{nb.name}: exit code {r["rc"]} in {r["seconds"]} s')
        if r['rc']==0: shutil.copy(nb, a.work/'notebooks')
    runs = REPO/'nbs/experiments/runs'  # the records of the runs the notebooks made
    for d in (runs.iterdir() if runs.exists() else []):
        if d.stat().st_mtime > a.t_start:
            shutil.copytree(d, a.work/'notebooks'/d.name, ignore=shutil.ignore_patterns('*.pkl', '*.pth'))

STAGES = dict(main=main_stage, speed=speed_stage, sync=sync_stage, cuda=cuda_stage, notebooks=notebooks_stage)

# Records: the summaries and the tar, rewritten after every run and stage
def _seed_means(runs):
    "Per recipe: seeds, the means of accuracies and times, and the GPU issue's target (>=94% mean, >=93% each)"
    g = pd.DataFrame([r for r in runs.values() if 'accuracy' in r]).groupby('recipe', sort=False)
    t = g.mean(numeric_only=True).drop(columns=['seed'], errors='ignore')
    t.insert(0, 'seeds', g.size()); t['min_accuracy'] = g.accuracy.min()
    t['94_mean_93_each'] = (t.seeds >= 5) & (t.accuracy >= .94) & (t.min_accuracy >= .93)
    return t.round(4)

def summary_md(a, S):
    L = [f"# GPU runs on {S['device']}", '', f"versions: {S.get('versions')}", '']
    rt = results_table(a.work/'runs') if (a.work/'runs').exists() else pd.DataFrame()
    if len(rt): L += ['```', rt.to_string(index=False), '```', '']
    if any('accuracy' in r for r in S.get('main', {}).values()):
        L += ['Means over seeds (accuracies as fractions, times in s):', '```', _seed_means(S['main']).to_string(),
              '```', '']
    if 'fastai_time_over_plain' in (s := S.get('speed', {})):
        L += [f"speed: fastai/plain time {s['fastai_time_over_plain']:.3f} (target <= 1.10); images/s: plain "
              f"{s['wall']['plain_median']:.0f}, fastai {s['wall']['fastai_median']:.0f}; "
              f"{s['steps']} steps x {s['reps']}", '']
    if 'syncs' in (s := S.get('sync', {})):
        L += [f"sync: {s['syncs']} in {s['batches']} batches; per training batch {s['per_train_batch']}, per "
              f"validation batch {s['per_valid_batch']}, per epoch {s['per_epoch']}; blocking copies per training "
              f"batch {s.get('copies_per_train_batch')}, per validation batch {s.get('copies_per_valid_batch')}",
              *[f'  {n} x {k}' for k,n in s['sites'].items()], '']
    L += [f"{k}: {v['status']} in {v.get('seconds', '-')} s" + (f" ({v['error']})" if v.get('error') else '')
          for k,v in S['stages'].items()]
    return '\n'.join(L) + '\n'

def save(a):
    "Write the summaries and the tar of the work folder without weights, each atomically"
    S = a.summary
    cfg = next((read_run(d)['config'] for d in sorted(a.work.glob('runs/*')) if (d/'config.json').exists()), None)
    if cfg: S.update(device=cfg['device'], precision=cfg['precision'], versions=cfg['versions'])
    _json(a.out/'summary.json', S)
    atomic_write(a.out/'summary.md', lambda f: Path(f).write_text(summary_md(a, S)))
    def tar(f):
        with tarfile.open(f, 'w:gz') as tf:
            tf.add(a.work, 'gpu_runs', filter=lambda ti: None if ti.name.endswith(('.pkl', '.pth', '.pt')) else ti)
    atomic_write(a.out/'records.tar.gz', tar)

def run_stage(a, name, budget_s):
    "Run stage `name`, stopped by an alarm after `budget_s`: its error or overrun is recorded, never raised"
    st,res = a.summary['stages'].setdefault(name, dict(status='running')), a.summary.setdefault(name, {})
    fired,t = [],time.perf_counter()
    def ring(*_): fired.append(1); raise KeyboardInterrupt(f'its budget of {budget_s:.0f} s is spent')
    say(f'== {name}: {budget_s:.0f} s')
    signal.signal(signal.SIGALRM, ring); signal.setitimer(signal.ITIMER_REAL, max(1, budget_s))
    try: STAGES[name](a, res, t+budget_s); st['status'] = 'done'
    except KeyboardInterrupt as e:  # `train` marks the run it stops as interrupted
        if not fired: raise
        st.update(status='out of time', error=str(e))
    except Exception as e: st.update(status='failed', error=f'{type(e).__name__}: {e}'); say(traceback.format_exc())
    finally: signal.setitimer(signal.ITIMER_REAL, 0); st['seconds'] = round(time.perf_counter()-t, 1)
    say(f"{name}: {st['status']} in {st['seconds']} s"); save(a)

def _value(s):
    try: return ast.literal_eval(s)
    except (ValueError, SyntaxError): return s

def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--out', type=Path, default=os.environ.get('OUT', '/tmp/gpu_runs_out'), help='for the records')
    p.add_argument('--work', type=Path, default=None, help='for the run folders; None: a new temporary one')
    p.add_argument('--data', default=None, help='CIFAR-10 folder or .tgz; None: untar_data(URLs.CIFAR)')
    p.add_argument('--exact', default=None, help='the 1,017 original-pixel test images (.npz); None: skip')
    p.add_argument('--stages', default='main,sync,speed,cuda,notebooks', help=f"in this order; of {', '.join(STAGES)}")
    p.add_argument('--budgets', default='main=220,sync=15,speed=25,cuda=90,notebooks=150',
                   help='seconds for each stage (bench/gpu_device_command.md has the estimate of each)')
    p.add_argument('--budget-s', type=float, default=535, help='for everything: a stage gets at most what is left')
    p.add_argument('--recipes', default='session9,page', help='comma-separated keys of the recipe table')
    p.add_argument('--seeds', type=int, default=5, help='seeds 0..N-1 of each recipe')
    p.add_argument('--num-workers', type=int, default=None, help='DataBlock path (CPU); a GPU reads from the device')
    p.add_argument('--speed-steps', type=int, default=200, help='steps of each timed fit')
    p.add_argument('--speed-reps', type=int, default=3, help='alternations of plain loop and Learner')
    p.add_argument('--notebooks', default='session9_custom_resnet,session8_resnet18', help='in nbs/experiments')
    for k,s in settings.items():
        if k!='seed': p.add_argument('--'+k.replace('_', '-'), type=_value, default=argparse.SUPPRESS, help=s.doc)
    a = p.parse_args(argv)
    a.overrides,a.recipes = {k: getattr(a, k) for k in settings if hasattr(a, k)}, a.recipes.split(',')
    a.stages,a.budgets = a.stages.split(','), {k: float(v) for k,v in (o.split('=') for o in a.budgets.split(','))}
    a.notebooks = [REPO/f'nbs/experiments/{n}.ipynb' for n in a.notebooks.split(',')]
    try: [get_recipe(r, **a.overrides) for r in a.recipes]
    except RunError as e: p.error(str(e))
    if bad := set(a.stages)-set(STAGES): p.error(f"unknown stage {', '.join(bad)}: use some of {', '.join(STAGES)}")
    if a.exact and not Path(a.exact).is_file(): p.error(f'{a.exact} does not exist: pass the original-pixel images')
    return a

def main(argv=None):
    a = parse(argv)
    a.work,a.t_start = (a.work or Path(tempfile.mkdtemp(prefix='gpu_runs-'))).resolve(), time.time()
    a.out.mkdir(parents=True, exist_ok=True)
    a.summary = dict(device=device_name(default_device()), args={k: str(v) for k,v in vars(a).items()}, stages={})
    say(f"{a.summary['device']}; run folders in {a.work}, records in {a.out}")
    for s in a.stages: run_stage(a, s, min(a.budgets.get(s, 60), a.budget_s-(time.perf_counter()-T0)))
    print('\n'+(a.out/'summary.md').read_text(), flush=True)

if __name__ == '__main__': main()
