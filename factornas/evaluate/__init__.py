"""Retraining found architectures: evaluation networks built from any factorized genotype
(:mod:`~factornas.evaluate.network`), their parameter and multiply-add counts and the width
solver (:mod:`~factornas.evaluate.cost`), the recipes' configuration
(:mod:`~factornas.evaluate.config`) and the resumable retraining loop
(:mod:`~factornas.evaluate.train`)."""
