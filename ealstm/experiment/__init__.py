"""The paper's experiment: six configurations x eight seeds, and their ensembles.

Kratzert et al. (2019, sect. 3.1-3.2) train three model types (LSTM without static inputs, LSTM
with static inputs, EA-LSTM), each with the MSE and the NSE* loss, with ``n = 8`` random seeds,
and score both the single members and the ensemble mean (the mean of the members' predictions at
each time step). :mod:`ealstm.experiment.config` describes such an experiment in one YAML file;
:mod:`ealstm.experiment.runner` trains and evaluates its members (locally in parallel or on a
Dask cluster), builds the ensembles and collects the metrics into one long table.
"""
