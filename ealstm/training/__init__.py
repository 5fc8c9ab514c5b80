"""Training stage: losses, the training loop, checkpoints and the epoch log."""
