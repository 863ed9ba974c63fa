"""Environments: task registry, state adapters, reward wrappers, fitness metrics, training and evaluation."""
