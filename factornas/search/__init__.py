"""The search: the N-level optimizer (Algorithm 1, generalized) and the search loop."""
