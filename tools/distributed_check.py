"""`resnet-eva train` on two CPU processes (torchrun, gloo), and the run folder it leaves: written once, by rank 0, and
complete, with the accuracy of the whole validation set and the weights that both processes ended with. First, the rank
helpers of `resnet_eva.distrib` in two processes: `rank0_only` runs on rank 0 alone; `on_rank0` runs its function
once and every rank gets rank 0's result or error; `main_process_first` lets rank 0 leave its block before rank 1
enters; `CPUDistributedDL` deals the ranks disjoint shares of rank 0's order, where fastai's `DistributedDL` fails on
a machine without a GPU.

    python tools/distributed_check.py           # about a minute on two cores
    python tools/distributed_check.py --ranks   # the rank helpers only

The console command is launched as the docs say, `torchrun --nproc_per_node=N $(which resnet-eva) train ...`. To see the
weights of rank 1, which writes nothing, the same command runs a second time through `resnet_eva.cli.main` in this script,
which saves what each process's `train` returns outside the run folder.
"""
import os, subprocess, sys, tempfile, time
from pathlib import Path

N = 2
ARGS = ['train', '--n-per-class', '10', '--epochs', '1', '--width', '0.25', '--bs', '16', '--lr-find-iters', '10', '--num-workers', '0']
FILES = ['config.json', 'history.csv', 'learner.pkl', 'loss_accuracy.png', 'lr_find.csv', 'lr_find.png', 'metrics.json']

def launch(prog, args, cwd):
    "Run `prog args` on `N` processes with torchrun, in `cwd`; its exit status and output"
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={N}', str(prog), *map(str, args)]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='')  # CPU, gloo
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    out = p.stdout + p.stderr
    print(f"$ torchrun --nproc_per_node={N} {Path(prog).name} {' '.join(map(str, args))}: exit {p.returncode} in {time.perf_counter()-t:.0f} s")
    if p.returncode: sys.exit(f"the distributed run failed:\n{out}")
    return out

def worker(dump, argv):
    "One process of the second launch: the console command's `main`, keeping the learner `train` returns"
    import torch, resnet_eva.cli as cli
    from fastai.torch_core import rank_distrib
    train = cli.train
    def keep(*args, **kwargs):
        learn = train(*args, **kwargs)
        torch.save(dict(model=learn.model.state_dict(), steps=len(learn.recorder.lrs)), Path(dump)/f'rank{rank_distrib()}.pth')
        return learn
    cli.train = keep
    sys.exit(cli.main(argv))

def ranks_worker(out):
    "One process of the rank helpers' launch: what each helper gave this rank, into `out/rank{i}.json`"
    import json, random, time
    from fastai.data.load import DataLoader
    from fastai.distributed import DistributedDL
    from fastai.torch_core import rank_distrib
    from resnet_eva.distrib import join_distrib, on_rank0, rank0_only, main_process_first, CPUDistributedDL
    join_distrib()
    out,r,calls = Path(out),rank_distrib(),[]
    @on_rank0
    def pid(): calls.append(r); return os.getpid()
    @on_rank0
    def fails(): raise ValueError(f'raised on rank {r}')
    @rank0_only
    def note(): return r
    res = dict(pid=os.getpid(), got=pid(), calls=len(calls), noted=note())
    try: fails()
    except ValueError as e: res['error'] = str(e)
    with main_process_first():
        res['entered'],res['seen'] = time.time(),(out/'first.flag').exists()
        if r == 0: time.sleep(1); (out/'first.flag').touch()
        res['left'] = time.time()
    random.seed(r)  # each rank shuffles its own way: only rank 0's order, sent to the others, deals disjoint shares
    dl = DataLoader(list(range(40)), bs=4, shuffle=True)
    res['share'] = [int(x) for b in CPUDistributedDL(dl) for x in b]
    try: list(DistributedDL(dl)); res['fastai'] = None
    except Exception as e: res['fastai'] = f'{type(e).__name__}: {e}'
    (out/f'rank{r}.json').write_text(json.dumps(res))

def check_ranks(d):
    "Launch `ranks_worker` on `N` processes in folder `d` and check what each rank got"
    import json, torch
    launch(Path(__file__).absolute(), ['--ranks-worker', d], cwd=d)
    r0,r1 = (json.loads((d/f'rank{i}.json').read_text()) for i in range(N))
    assert (r0['calls'], r1['calls']) == (1, 0), \
        f"on_rank0 ran its function {r0['calls']} times on rank 0 and {r1['calls']} on rank 1, not once on rank 0"
    assert r0['got'] == r1['got'] == r0['pid'] != r1['pid'], \
        f"on_rank0 gave {r0['got']} and {r1['got']}, not rank 0's {r0['pid']}"
    assert (r0['noted'], r1['noted']) == (0, None), f"rank0_only ran on ranks {r0['noted']}, {r1['noted']}, not 0 alone"
    assert r0.get('error') == r1.get('error') == 'raised on rank 0', \
        f"on_rank0's error: {r0.get('error')!r} and {r1.get('error')!r}, not rank 0's on both"
    assert (r0['seen'], r1['seen']) == (False, True) and r1['entered'] >= r0['left'], \
        f"main_process_first: rank 1 entered at {r1['entered']:.2f}, before rank 0 left at {r0['left']:.2f}"
    s0,s1 = r0['share'],r1['share']
    assert len(s0) == len(s1) == 20 and sorted(s0+s1) == list(range(40)), \
        f"CPUDistributedDL's shares are not disjoint halves of rank 0's order: {s0} {s1}"
    if not torch.cuda.is_available(): assert r0['fastai'] and r1['fastai'], "fastai's DistributedDL ran without a GPU"
    print(f"on_rank0: one call, rank 0's result and error on both ranks; main_process_first: rank 1 entered "
          f"{r1['entered']-r0['left']:.2f} s after rank 0 left; CPUDistributedDL: disjoint shares of 20 of 40 items; "
          f"fastai's DistributedDL: {r0['fastai'] and r0['fastai'][:60]}")

def same(a, b): return a.keys()==b.keys() and all(a[k].equal(b[k]) for k in a)

def check(ranks_only=False):
    import json, warnings, torch, pandas as pd
    from resnet_eva.records import load_run
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d/'helpers').mkdir()
        check_ranks(d/'helpers')
        if ranks_only: return print("rank helpers' check passed")
        (d/'cli').mkdir()
        out = launch(Path(sys.executable).parent/'resnet-eva', ARGS, cwd=d/'cli')  # into runs/<date-time>-session9
        found = sorted(str(o.relative_to(d/'cli')) for o in (d/'cli').rglob('*') if o.is_dir())
        assert len(found)==2 and found[0]=='runs', f"not one run folder in runs/, and nothing else: {found}"
        run = d/'cli'/found[1]
        assert sorted(o.name for o in run.iterdir()) == FILES, f"the run folder holds {sorted(os.listdir(run))}, not {FILES}"
        for msg in ('LR finder: ', 'one cycle over 1 epoch:', 'Accuracy '):
            assert out.count(msg) == 1, f"{msg!r} printed {out.count(msg)} times, not once (by rank 0):\n{out}"
        cfg,m = (json.loads((run/f).read_text()) for f in ('config.json', 'metrics.json'))
        h = pd.read_csv(run/'history.csv')
        assert (cfg['processes'], cfg['bs'], cfg['data']['n_valid'], cfg['lr_find']['iters']) == (N, 16, 100, 10), cfg
        assert (m['status'], m['epochs'], len(h)) == ('complete', 1, 1), (m, h)
        assert m['accuracy'] == h.accuracy.iloc[-1]
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            learn,_ = load_run(run, with_data=True, num_workers=0)  # learner.pkl's weights, unwrapped from DDP
            with learn.no_bar(): loss,acc = learn.validate()
        assert abs(acc - m['accuracy']) < 1e-6 and abs(loss - m['valid_loss']) < 1e-5, \
            f"the run's accuracy {m['accuracy']} (loss {m['valid_loss']}) is not that of all 100 validation images, {acc} (loss {loss})"
        print(f"one run folder, {found[1]}, with its {len(FILES)} files, by rank 0; accuracy {acc:.2f} (loss {loss:.4f}) over all {len(learn.dls.valid_ds)} validation images")

        (d/'ranks').mkdir()
        launch(Path(__file__).absolute(), ['--worker', d/'ranks', *ARGS, '--out', d/'run2', '--quiet'], cwd=d)
        r0,r1 = (torch.load(d/'ranks'/f'rank{i}.pth') for i in (0,1))
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            saved = load_run(d/'run2')[0].model.state_dict()
        assert same(r0['model'], saved) and same(r1['model'], saved), "every process ends with the weights rank 0 saved"
        assert r0['steps'] == r1['steps'] == 100//N//16, \
            f"ranks took {r0['steps']} and {r1['steps']} steps, not the {100//N//16} batches of 16 of their share of the 100 images"
        print(f"rank 0 and rank 1 end with the weights of learner.pkl ({len(saved)} tensors), after {r0['steps']} steps each")
    print("distributed check passed")

if __name__ == '__main__':
    if sys.argv[1:2] == ['--worker']: worker(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:2] == ['--ranks-worker']: ranks_worker(sys.argv[2])
    else: check(ranks_only=sys.argv[1:2] == ['--ranks'])
