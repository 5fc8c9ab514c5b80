"""ealstm: regional rainfall-runoff modelling with LSTM and Entity-Aware LSTM.

Implements Kratzert et al. (2019), "Towards learning universal, regional, and local hydrological
behaviors via machine learning applied to large-sample datasets", HESS 23, 5089-5110.
"""

__version__ = "0.1.0"
