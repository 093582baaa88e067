"""The API's routes, one blueprint per area; each module's `blueprint(ctx)` builds its own."""
