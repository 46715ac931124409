"""The data the method runs on: Fashion-MNIST, CIFAR-10/100, SVHN and TinyImageNet loaders with their
augmentations (``data``), and the common corruptions of Tables B6/B7 (``corruptions``)."""
