"""The exception requests app. Shadows the PyPI ``requests`` package on purpose (see models.py)."""
