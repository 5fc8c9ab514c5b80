"""Data stage: CAMELS-US parsers, the array cache, scaling, sample windows, synthetic data."""
