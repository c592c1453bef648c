"""Helpers for tests, benchmarks and docs scripts: real servers and kernels
started the way a user starts them, never mocks.

- ``jupyter``: a Jupyter server in a subprocess (isolated runtime, data and
  config dirs, a base URL, the dvvr extension enabled) and a driver for its
  kernels.
- ``waiting``: wait for a condition with a deadline instead of sleeping.

It will also host a JupyterLab + headless Chromium harness for browser
tests.  Nothing here is imported by the package itself.
"""
