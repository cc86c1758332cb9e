"""Train the EVA course's custom ResNet (and ResNet18) on CIFAR-10 with fastai, and see what it learned"""

__version__ = "0.0.1"
