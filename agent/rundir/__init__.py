"""The run directory's one owner: every path in it (``layout``), reading and writing it atomically (``store``), and recording a run's start (``run``)."""
