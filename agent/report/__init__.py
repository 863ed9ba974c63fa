"""What a run reports: the final fresh-seed comparison, the summary, human-normalized scores and plots."""
