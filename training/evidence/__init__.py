"""Scripts that measure the training code on real offline data (see training/README.md)."""
