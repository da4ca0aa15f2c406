"""``python -m vmcore.cli``: the ``vmcore`` command, without the console script."""

import sys

from vmcore.cli.main import main

sys.exit(main())
