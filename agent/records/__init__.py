"""Typed records that pass between the loop's stages and live in the run directory: results, review, training and compute, configuration."""
