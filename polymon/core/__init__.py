"""Pure domain: order books, integrity, shard state. No trio, no I/O, no clock reads."""
