"""Source classification: morphology features, labels, a small gradient-boosted model and its training.

Pure like the rest of :mod:`science` (numpy, scipy, astropy, scikit-learn): no Prefect, Dask or I/O
beyond the model file, read and written by :mod:`science.classify.model`.
"""
