"""``python -m bench.worker GROUP``: exactly ``mailerlogic consume projector``, in consumer group GROUP.

The production command always joins the group ``projector``; a benchmark needs a fresh group
(no committed offsets, and no rebalance of anybody else's projector). Everything else — the
settings from the environment, ``run_projector``'s wiring, signals, the loop — is the real code.
"""

from __future__ import annotations

import sys

from mailerlogic import processes
from mailerlogic.cli import main as cli


def main(argv: list[str]) -> None:
    """Set the group, then run the console script's ``consume projector``."""
    if len(argv) != 1:
        raise SystemExit("usage: python -m bench.worker GROUP")
    processes.PROJECTOR_GROUP = argv[0]
    cli(["consume", "projector"])


if __name__ == "__main__":
    main(sys.argv[1:])
