"""The ways in: the ``rewardsmith`` command line (``cli``, generated from the config by ``options``), its sub-commands (``commands/``), ``--dry-run`` and the web app (``web/``)."""
