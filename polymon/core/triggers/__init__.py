"""Alert triggers, pure and compiled: specs in, TriggerEvents out.

    spec          TriggerSpec / Trigger, decode_trigger_spec (the definitions table is here)
    units         exact user decimals -> integer 1e-6 units
    compiler      Trigger -> rule (parameters in units, evaluation state)
    rules         rules without a window (crossings, imbalance, arbitrage, fills, trades, stale)
    window_rules  windowed rules (size spike, price move, quote velocity, imbalance shift, volume)
    windows       sliding time windows (extrema, sums, counts)
    crossing      sorted thresholds: a value move touches only the thresholds it crosses
    deadlines     min-heap of timers (STALE_QUOTE)
    watch         AssetWatch: one asset's last quote and its rules, by entry point
    table         TriggerTable: registry and the hot-path entry points
    events        TriggerEvent, stamp

The async shell decodes a registration with `decode_trigger_spec`, names it with
`make_trigger_id(os.urandom(8))`, `table.add(Trigger(...), now)`s it, calls the table's entry
points with the time, and delivers `stamp(table.drain(), wall_us)`.
"""

from polymon.core.triggers.events import TriggerEvent, stamp
from polymon.core.triggers.spec import (
    TRIGGER_TYPES,
    Trigger,
    TriggerSpec,
    decode_trigger_spec,
    make_trigger_id,
)
from polymon.core.triggers.table import TriggerTable

__all__ = [
    "TRIGGER_TYPES",
    "Trigger",
    "TriggerEvent",
    "TriggerSpec",
    "TriggerTable",
    "decode_trigger_spec",
    "make_trigger_id",
    "stamp",
]
