"""Benchmarks comparing search spaces: ``factornas bench compare`` (cost, accuracy, stability)."""
