"""``python -m vmcore``: the ``vmcore`` command, as ``python -m pytest`` is pytest's."""

import sys

from vmcore.cli.main import main

sys.exit(main())
