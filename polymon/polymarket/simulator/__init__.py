"""A simulated Polymarket exchange that speaks the real protocol (Gamma, CLOB REST, market WS).

`exchange` is the pure model (books, trades, tick changes, v3 hashes); `server.run_simulator`
serves it on one port with fault injection. `polymon simulate` and `polymon run --simulate` use it.
"""
