"""Jinja2 templates for every text RewardSmith sends to a designer or writes for a person."""
