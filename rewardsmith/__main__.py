"""``python -m rewardsmith`` is the ``rewardsmith`` command."""

from rewardsmith.agent.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
