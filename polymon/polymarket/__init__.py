"""The venue adapter: wire schemas, the market WebSocket feed, REST/Gamma clients, simulator."""
