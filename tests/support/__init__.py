"""What tests import: fakes (an LLM server, a tuning evaluator), the network guard, run-directory helpers."""
