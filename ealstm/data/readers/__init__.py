"""Data-set readers: CAMELS-US, Caravan and the generic layout, and their registry (datasets)."""
