"""Helpers for tests, benchmarks and docs scripts: real servers and kernels
started the way a user starts them, never mocks.

- ``jupyter``: a Jupyter server in a subprocess (isolated runtime, data and
  config dirs, a base URL, the dvvr extension enabled) and a driver for its
  kernels.
- ``waiting``: wait for a condition with a deadline instead of sleeping.
- ``browser``: JupyterLab in a subprocess and Debian's headless Chromium
  driven by Playwright (the browser tests, the explorer benchmark).

Nothing here is imported by the package itself.
"""
