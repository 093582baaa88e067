"""The `polymon` command line: run, simulate, migrate, keys, bench, replay, backtest.

base        the command group, config loading, the failure exit, running until a signal
service     run, keys, migrate, simulate, bench, systemd-unit
recordings  replay (or serve) a feed recording, backtest triggers on one
"""

from polymon.cli import recordings, service
from polymon.cli.base import main

__all__ = ["main", "recordings", "service"]
