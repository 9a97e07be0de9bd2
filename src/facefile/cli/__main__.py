"""``python -m facefile.cli``: the ``facefile`` command."""

from facefile.cli import main

main()
