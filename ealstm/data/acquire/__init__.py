"""Acquisition of raw data: downloads, checked fetches and safe archive extraction."""
