"""The send-campaign wizard: one module per page, the shared state in ``state.py``."""
