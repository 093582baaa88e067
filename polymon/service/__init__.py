"""Runtime wiring: the one composition root that builds and supervises every component."""
