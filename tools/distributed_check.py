"""`resnet-eva train` on two CPU processes (torchrun, gloo), and the run folder it leaves: written once, by rank 0, and
complete, with the accuracy of the whole validation set and the weights that both processes ended with.

    python tools/distributed_check.py     # under a minute on two cores

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
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
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

def same(a, b): return a.keys()==b.keys() and all(a[k].equal(b[k]) for k in a)

def check():
    import json, warnings, torch, pandas as pd
    from resnet_eva.runs import load_run
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
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
    else: check()
