"""RewardSmith's orchestration layer: the design loop, designers, prompting, extraction, analysis, run store, CLI."""
