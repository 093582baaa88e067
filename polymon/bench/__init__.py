"""`polymon bench`: measure the hot path and the loopback end-to-end path on this host."""
