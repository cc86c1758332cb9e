"""Is checking every image before training cheap? A benchmark, not a test.

`cifar_dls` decodes every image once before the `DataBlock` path trains (`check_images`), so that a file that cannot
be used stops it at once with one line naming the file, instead of a worker's traceback minutes or hours later. This
times that check on all of CIFAR-10, in this process and in 2 worker processes, then `cifar_dls` with and without
the record of a passed check, and beside them the reference: one epoch of training (train and validation) of the
custom ResNet at width 0.25 on the CPU, through the same `DataBlock` path, in the same run.

    python bench/data_check.py [--width 0.25] [--bs BS]   # default: session 9's batch size
"""
import argparse, os, platform, time
import torch
from resnet_eva.data import cifar_dls, cifar_items, cifar_source, check_images, _checked_file
from resnet_eva.learner import cifar_learner
from resnet_eva.recipes import settings
from resnet_eva.runs import device_name

def cpu_s():
    "CPU seconds of this process and of its finished worker processes"
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system

def timed(f):
    "Wall seconds and CPU seconds (this process and its workers) of `f()`"
    w,c = time.perf_counter(),cpu_s()
    f()
    return time.perf_counter()-w, cpu_s()-c

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--width', type=float, default=0.25); p.add_argument('--bs', type=int, default=settings['bs'].value)
    a = p.parse_args()
    root,kind = cifar_source()
    print(f"{os.cpu_count()} CPUs ({device_name(torch.device('cpu'))}), {torch.get_num_threads()} torch threads; "
          f"load average {os.getloadavg()[0]:.1f}; data: {root}")
    items = []
    w,_ = timed(lambda: items.extend(cifar_items(root, kind)[0]))
    print(f"list the {len(items)} images: {w:.1f} s (done by every cifar_dls call, with or without the check)")
    for n in (0, 2):
        w,c = timed(lambda: check_images(items, n_workers=n))
        print(f"check_images, {n or 'no'} worker processes: {w:.1f} s ({c:.1f} CPU-s)")
    marker = _checked_file(root, None)
    marker.unlink(missing_ok=True)
    first,_ = timed(lambda: cifar_dls(bs=a.bs, on_device=False))
    again,_ = timed(lambda: cifar_dls(bs=a.bs, on_device=False))
    print(f"cifar_dls, DataBlock path, default workers: {first:.1f} s with the check ({marker.name} written), "
          f"{again:.1f} s with it remembered")
    learn = cifar_learner(cifar_dls(bs=a.bs, on_device=False), 'custom', a.width)
    with learn.no_bar(), learn.no_logging(): w,c = timed(lambda: learn.fit(1, 0.05))
    print(f"one epoch of training, custom ResNet width {a.width}, batch {a.bs}, "
          f"{learn.dls.train.fake_l.num_workers} data workers: {w:.1f} s ({c:.1f} CPU-s; "
          f"train {len(learn.dls.train_ds)}, validate {len(learn.dls.valid_ds)} images)")
    print(f"load average {os.getloadavg()[0]:.1f}; python {platform.python_version()}")

if __name__ == '__main__': main()
