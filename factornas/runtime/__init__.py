"""Run-time plumbing shared by search and retraining: checkpoints, RNG, metrics, run dirs,
devices, distributed processes and progress display."""
