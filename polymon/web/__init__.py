"""The HTTP API and SSE stream (Quart-Trio, served by Hypercorn in the same process)."""
