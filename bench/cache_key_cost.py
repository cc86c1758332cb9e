"""What keying the decoded-image cache by content costs. A benchmark, not a test.

The device path's cache (`cifar_tensors`) is keyed by each image file's size, modification and change times, so that
an image rewritten in place is decoded again. This times, on all of CIFAR-10 (5 repeats, warm file cache): listing the
items; a key of the file names alone (what the cache used before); the key with the stamps (`_cache_key`); and a whole
`cifar_tensors` call that finds its cache.

    FASTAI_HOME=... python bench/cache_key_cost.py
"""
import warnings; warnings.simplefilter("ignore")
import time, hashlib, tempfile, statistics
from pathlib import Path
from resnet_eva.data import *
from resnet_eva.data import _cache_key
root,kind = cifar_source()
def names_key(items):
    h = hashlib.sha1()
    for i,(x,c,v) in enumerate(items): h.update(f"{x.name}\t{c}\t{v}\n".encode())
    return h.hexdigest()
ts = dict(list=[], names=[], stamps=[], cached=[])
with tempfile.TemporaryDirectory() as d:
    cifar_tensors(root, kind, cache=Path(d)/'c.pt')  # the cache, written once
    for _ in range(5):
        t=time.perf_counter(); items,_ = cifar_items(root, kind); ts['list'].append(time.perf_counter()-t)
        t=time.perf_counter(); names_key(items); ts['names'].append(time.perf_counter()-t)
        t=time.perf_counter(); _cache_key(root, kind, None, items); ts['stamps'].append(time.perf_counter()-t)
        t=time.perf_counter(); cifar_tensors(root, kind, cache=Path(d)/'c.pt'); ts['cached'].append(time.perf_counter()-t)
print(len(items), 'files;', ', '.join(f"{k}: median {statistics.median(v):.2f} s (min {min(v):.2f})" for k,v in ts.items()))
