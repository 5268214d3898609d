"""``python -m mmdet_droploss COMMAND ...``: the same as the ``mmdet-droploss`` command."""
import sys

from .commands import main

sys.exit(main())
