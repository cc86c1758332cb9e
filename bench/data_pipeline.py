"""One epoch of CIFAR-10 training batches, without a model: the `DataBlock` path against the device-resident path.

Both give the same augmented, normalised batches (`nbs/00a_data.ipynb` tests that); this times how fast each delivers
them on this machine. The device path's one-off decoding into its cache is timed apart (delete the cache file to
time it again). A benchmark, not a test.

    python bench/data_pipeline.py [--bs BS] [--epochs 2]   # default: session 9's batch size
"""
import argparse, os, time
import torch
from resnet_eva.data import cifar_dls, cifar_source, cifar_cache_file
from resnet_eva.recipes import settings

def epoch(dl):
    "Seconds and images for one pass over `dl`, waiting for the device at the end"
    t,n = time.perf_counter(),0
    for xb,yb in dl: n += len(xb)
    if xb.device.type=='cuda': torch.cuda.synchronize()
    return time.perf_counter()-t, n

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--bs', type=int, default=settings['bs'].value); p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--num-workers', type=int, default=None)
    a = p.parse_args()
    root,kind = cifar_source()
    cache = cifar_cache_file(root, None)
    cached = cache.exists()
    t = time.perf_counter(); dev = cifar_dls(bs=a.bs, on_device=True)
    print(f"device path: cache {'read' if cached else 'decoded and written'} in {time.perf_counter()-t:.1f} s ({cache}); batches on {dev.device}")
    ref = cifar_dls(bs=a.bs, on_device=False, num_workers=a.num_workers)
    print(f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, DataBlock path with {ref.train.num_workers} workers, batch {a.bs}")
    for e in range(a.epochs):
        (sr,n),(sd,_) = epoch(ref.train), epoch(dev.train)
        print(f"epoch {e}: DataBlock {sr:.1f} s ({n/sr:.0f} images/s), device path {sd:.1f} s ({n/sd:.0f} images/s); ratio {sr/sd:.1f}x")

if __name__ == '__main__': main()
