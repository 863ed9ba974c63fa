"""Selection and review between rounds: the gate that pauses a round, the feedback the next round reads, preferences, and the reviewers (terminal, web, oracle)."""
