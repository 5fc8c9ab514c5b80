"""Evaluation stage: hydrological metrics, prediction and run evaluation."""
