"""Train the EVA course's custom ResNet (and ResNet18) on CIFAR-10 with fastai, and see what it learned

Modules:

- `resnet_eva.gradcam`: Class activation maps for any stage of the networks, on fastai hooks and through pytorch-grad-cam, with checks that they show what the network uses"""

__version__ = "0.0.1"
