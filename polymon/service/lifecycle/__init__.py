"""The market set follows the venue by itself: new markets in, resolved and closed ones out.

manager     Lifecycle: WS life-cycle events, the Gamma poll (`check`), the webhooks' entry points
discovery   new markets: subscribed on their shard, retried until their books arrive
resolution  resolved and closed markets: confirmed on Gamma/CLOB, recorded, dropped
state       what discovery and resolution share: the `Tracker` seam (service.router), the
            known markets (`KnownMarket`), the created/resolved announcements and rows
hooks       the lifecycle webhook receivers (`market.created` / `market.resolved`)
"""

from polymon.service.lifecycle.manager import Lifecycle

__all__ = ["Lifecycle"]
