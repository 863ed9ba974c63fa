"""The JAX training backend: vectorized environments, the K-candidate PPO round, reward-module checks."""
