"""Executors other than the local one (``agent.executor.LocalExecutor``); each satisfies ``agent.executor.Executor``."""
