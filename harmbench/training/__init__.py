"""The shared deep-learning kit: one training loop for every deep method.

Only :mod:`harmbench.training.history` is import-light (no torch); the loop itself imports torch.
"""
