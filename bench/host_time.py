"""Host time per training step: what the project's step costs beyond the network. A benchmark, not a test.

With a near-free network (flatten + linear) on the device-resident batches, the time of a step is nearly all host
time: Python, fastai's callbacks, the batch's making and augmentation. On an H200 a step of the course's network takes
about 5 ms, so this host time must stay well below that for the GPU to be kept busy. Measured side by side in one run:

- `train()`'s whole training step (batch creation and augmentation included), as `fastai_vs_torch.overhead` times it;
- a plain loop doing the same work on plain tensors (`plain_train`: its own pad-crop / flip / cutout / normalise,
  `OneCycleLR`, channels_last);
- the batches alone: one epoch of the project's training `DataLoader` (positions, to float, the batch transforms),
  and the same augmentation the plain way (`plain_augment`).

    OMP_NUM_THREADS=1 python bench/host_time.py                 # medians of 5
    OMP_NUM_THREADS=1 python bench/host_time.py --profile      # and where train()'s host time goes
"""
import argparse, os, statistics, time
import torch
from torch import nn
from fastai.vision.all import cifar_stats
from resnet_eva.data import cifar_dls
from fastai_vs_torch import overhead, plain_augment, profile_project, header

def linear(n_out): return nn.Sequential(nn.Flatten(), nn.Linear(3*32*32, n_out))

def batches_alone(bs, n_per_class, reps, data=None):
    "CPU-µs per training batch of the project's `DataLoader` and of the plain augmentation, median of `reps`, alternated"
    dls = cifar_dls(data, bs=bs, n_per_class=n_per_class, num_workers=0, device='cpu', on_device=True)
    images,labels,pos = dls.train.images,dls.train.labels,dls.train.pos
    mean,std = (torch.tensor(s).view(1,-1,1,1) for s in cifar_stats)
    n = len(pos)//bs
    def project():
        for _ in dls.train: pass
    def plain():
        perm = pos[torch.randperm(len(pos))]
        for i in range(n):
            idx = perm[i*bs:(i+1)*bs]
            plain_augment(images[idx].float().div_(255), mean, std)  # the DataLoader leaves the memory format to the learner
            labels[idx]
    def us(f): t = time.process_time(); f(); return 1e6*(time.process_time()-t)/n  # CPU time: the machine is shared
    project(); plain()
    ts = [(us(project), us(plain)) for _ in range(reps)]
    return tuple(statistics.median(t) for t in zip(*ts))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--bs', type=int, default=64); p.add_argument('--n-per-class', type=int, default=320)
    p.add_argument('--epochs', type=int, default=3); p.add_argument('--reps', type=int, default=5)
    p.add_argument('--profile', action='store_true', help="also cProfile one train() run with the linear network")
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', torch.get_num_threads())))
    print(header('cpu'), flush=True)
    r = overhead(width=1, bs=a.bs, n_per_class=a.n_per_class, epochs=a.epochs, reps=a.reps, arch=linear)
    tb,pb = batches_alone(a.bs, a.n_per_class, a.reps)
    tr,pl = r['train_cpu']['project_median'],r['train_cpu']['plain_median']
    print(f"\nbatches alone (CPU-µs/batch, median of {a.reps}): project DataLoader {tb:.0f}, plain augmentation {pb:.0f}")
    print(f"host time per training step (CPU-µs, medians): train() {tr:.0f}, plain loop {pl:.0f}, "
          f"train() - plain {tr-pl:.0f} (target <= 500), of which the batches {tb-pb:.0f} and the learner {tr-pl-tb+pb:.0f}")
    if a.profile: profile_project(1, a.bs, a.n_per_class, a.epochs, 0.05, 10., 'cpu', None, top=30, arch=linear)

if __name__=='__main__': main()
