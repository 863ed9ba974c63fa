"""Tuning a reward's named constants with Optuna: the study (``tuner``) and the constants' search space and rewriting (``constants``)."""
