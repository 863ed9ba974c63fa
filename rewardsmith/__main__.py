"""``python -m rewardsmith`` is the ``rewardsmith`` command."""

from rewardsmith.agent.app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
