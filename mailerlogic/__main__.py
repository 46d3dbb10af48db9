"""``python -m mailerlogic``: the console script (``run-all`` starts delivery shards this way)."""

from mailerlogic.cli import main

main()
