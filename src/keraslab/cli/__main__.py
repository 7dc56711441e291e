"""``python -m keraslab.cli ARGS``: the ``keraslab`` command."""

import sys

from keraslab.cli.dispatch import main

sys.exit(main())
