"""Nyx benchmarks: data sets, retrieval / answer metrics and latency statistics.

Nothing in the library imports this package; it imports whatever it measures. Submodules are
imported on use (``from nyx.metrics import evaluate_run``,
``from nyx.benchmarks.datasets import load_dataset``) so that importing ``benchmarks`` stays cheap.
"""
