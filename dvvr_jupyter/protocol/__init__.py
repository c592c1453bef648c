"""The DeepVisionVR wire protocol over tornado (no jupyter_server imports)."""
