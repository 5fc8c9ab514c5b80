"""Simulation stage: a trained model driven over a period (chunked), for training and evaluation."""
