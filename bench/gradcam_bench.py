"""Benchmark (not a test): class activation maps for 10 images × 2 stages × 2 methods × (predicted, true class) on the CPU.

The project's figure is `resnet_eva.gradcam.class_cams` (fastai hooks); the reference, measured in the same run on the
same model and images, is pytorch-grad-cam called directly, one `GradCAM`/`GradCAMPlusPlus` object per map set.
Target: at most 3 s for the project's figure.

    python bench/gradcam_bench.py [--repeats 5] [--threads N]
"""
import argparse, statistics, time
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from resnet_eva.models import CustomResNet
from resnet_eva.gradcam import class_cams

LAYERS, METHODS = ('layer1', 'layer2'), {'gradcam': GradCAM, 'gradcam++': GradCAMPlusPlus}

def project(model, xb, targets):
    return class_cams(model, xb, targets, layers=LAYERS, methods=tuple(METHODS))

def reference(model, xb, targets):
    out = {}
    for role,t in targets.items():
        for l in LAYERS:
            for name,cls in METHODS.items():
                cam = cls(model, [model.get_submodule(l)])
                try: out[role,l,name] = cam(xb, [ClassifierOutputTarget(int(c)) for c in t])
                finally: cam.activations_and_grads.release()
    return out

def timed(f, *args):
    t0 = time.perf_counter(); f(*args)
    return time.perf_counter() - t0

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=5, help='timed runs of each, after one warm-up run; the median is reported')
    ap.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch\'s choice)')
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CustomResNet().eval()  # the course's full-width network (6.6M parameters); timing does not depend on training
    xb = torch.randn(10, 3, 32, 32)
    with torch.no_grad(): preds = model(xb).argmax(1)
    targets = dict(pred=preds, true=(preds + 1 + torch.randint(0, 9, (10,))) % 10)  # a true class that differs from the prediction
    n_maps = len(targets) * len(LAYERS) * len(METHODS)
    for f in (project, reference): f(model, xb, targets)  # warm-up
    times = {f.__name__: [] for f in (project, reference)}
    for _ in range(args.repeats):  # interleaved, so that a change in machine load hits both alike
        for f in (project, reference): times[f.__name__].append(timed(f, model, xb, targets))
    p,r = (statistics.median(times[k]) for k in ('project', 'reference'))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; {len(xb)} images × {len(LAYERS)} stages × {len(METHODS)} methods "
          f"× (pred, true) = {n_maps} batched map sets, median of {args.repeats}")
    print(f"project   (resnet_eva.gradcam.class_cams, fastai hooks): {p:.3f} s   (target ≤ 3 s: {'met' if p <= 3 else 'NOT met'})")
    print(f"reference (pytorch-grad-cam called directly):           {r:.3f} s")
    print(f"ratio project/reference: {p/r:.2f}")

if __name__ == '__main__': main()
