"""The engine: torch only (no Jupyter, no web server)."""
