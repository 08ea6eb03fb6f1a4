"""The shared deep-learning kit: one training loop for every deep method.

A model plugs in through :class:`~harmbench.training.protocol.TrainableModel` (networks,
optimizers, ``train_step``, ``set_lr``, ``translate``); the kit owns the rest:

* :mod:`~harmbench.training.loop` — the loop, LR schedule, model selection, stop rules;
* :mod:`~harmbench.training.sampler` — seeded batches that make resume exact;
* :mod:`~harmbench.training.checkpoint` — atomic checkpoints, ``weights_only`` loading, fingerprints;
* :mod:`~harmbench.training.averaging` — weight averaging (EMA) of the inference networks;
* :mod:`~harmbench.training.validation` — slice SSIM / PSNR of FU->BL and of the identity map;
* :mod:`~harmbench.training.inference` — slice-by-slice harmonization of a volume;
* :mod:`~harmbench.training.scaling` — [0, 1] <-> [-1, 1] and background padding;
* :mod:`~harmbench.training.history` — the recorded training history (no torch).

Only :mod:`harmbench.training.history` and :mod:`harmbench.training.scaling` are import-light
(no torch); the rest imports torch.
"""
