"""The browser 3D client: static files under ``static/``, served at ``{VR URL}xr/``."""
