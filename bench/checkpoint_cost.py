"""What the per-epoch checkpoint costs a run. A benchmark, not a test.

`train` saves `checkpoint.pth` (weights, optimizer state, random states, records) through `atomic_write`: a temporary
file, fsync, rename. At the course's full width that is about 52 MB (6.57 M weights and as many momentum buffers).
This times `Checkpoint.after_epoch` itself on a learner that has trained one step at full width, and its parts (the
state gathered in memory; `torch.save` to the file; fsync and rename), `--reps` times, and sets the median beside an
epoch: this machine's epoch at full width (measured: a training step, times the steps of an epoch of 50,000 images)
and the H200's (about 0.6 s an epoch: 97 steps of ~6 ms, an estimate until the device run measures it).

    OMP_NUM_THREADS=1 python bench/checkpoint_cost.py
"""
import argparse, math, os, statistics, tempfile, time
from functools import partial
from pathlib import Path
import torch
from resnet_eva.data import cifar_dls, atomic_write
from resnet_eva.learner import cifar_learner
from resnet_eva.recipes import settings
from resnet_eva.records import Checkpoint, RunDir
from resnet_eva.runs import estimate_run_s
from fastai_vs_torch import header

H200_EPOCH_S = 0.6  # an estimate: ~6 ms a step of session 9's batch at full width (issue 17), 97 steps

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--reps', type=int, default=7); p.add_argument('--width', type=float, default=1.)
    a = p.parse_args()
    print(header('cpu'), flush=True)
    dls = cifar_dls(bs=16, n_per_class=2, num_workers=0, on_device=True)
    learn = cifar_learner(dls, width=a.width)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)  # optimizer state and records, as after an epoch
    d = RunDir(tempfile.mkdtemp()); fn = d.checkpoint
    cb = Checkpoint(d); cb.learn,cb.share = learn,math.inf  # a save after every call
    cb.before_fit()
    times = dict(whole=[], state=[], save=[], fsync_rename=[])
    for _ in range(a.reps):
        t = time.perf_counter(); cb.after_epoch(); times['whole'].append(time.perf_counter()-t)
        t = time.perf_counter(); state = dict(model=learn.model.state_dict(), opt=learn.opt.state_dict())
        state = {k: {n: (v.clone() if torch.is_tensor(v) else v) for n,v in s.items()} if k=='model' else s
                 for k,s in state.items()}
        times['state'].append(time.perf_counter()-t)
        tmp = d/'plain.pth'
        t = time.perf_counter(); torch.save(state, tmp); times['save'].append(time.perf_counter()-t)
        t = time.perf_counter()
        with open(tmp, 'rb+') as f: os.fsync(f.fileno())
        os.replace(tmp, d/'plain-final.pth'); times['fsync_rename'].append(time.perf_counter()-t)
    mb = fn.stat().st_size/2**20
    med = {k: 1e3*statistics.median(v) for k,v in times.items()}
    # one step of session 9's batch and a validation batch (twice as large, counted as 1/3 of a step) on just enough
    # images, then 50,000 training and 10,000 validation images' worth
    bs = settings['bs'].value
    step_s = estimate_run_s(cifar_learner(cifar_dls(bs=bs, n_per_class=bs//10+1, num_workers=0, on_device=True),
                                          width=a.width), 1)/(1+1/3)
    cpu_epoch = step_s*(50000/bs + 10000/(2*bs)/3)
    print(f"checkpoint.pth at width {a.width}: {mb:.1f} MB; median of {a.reps} (ms): "
          + ', '.join(f'{k} {v:.0f}' for k,v in med.items()))
    print(f"share of an epoch: this CPU ({cpu_epoch:.0f} s an epoch, estimated) {100*med['whole']/1e3/cpu_epoch:.3f}%; "
          f"H200 (~{H200_EPOCH_S} s an epoch, estimated) {100*med['whole']/1e3/H200_EPOCH_S:.0f}% "
          f"if written after every epoch (this machine's disk; the device's may differ)")

if __name__=='__main__': main()
