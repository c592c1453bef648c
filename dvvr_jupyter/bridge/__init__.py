"""The contract between a kernel that ran ``%load_ext dvvr`` and the Jupyter
server's dvvr extension.

The two are separate processes of one user; they share files in Jupyter's
own directories and talk HTTP on loopback:

- ``token``: ``<jupyter data dir>/dvvr/vr-token``, the capability in the
  stable VR URL ``{base_url}dvvr/vr/<token>/``.  The server checks it; a
  kernel shows it and ``%dvvr rotate`` replaces it.
- ``registry``: ``<jupyter runtime dir>/dvvr/``, where each kernel says on
  which loopback port it serves and with which secret, and which kernel the
  stable URL goes to.  Kernels write it; the server reads it.
- ``headers``: the HTTP headers of a forwarded request (the kernel's secret,
  the headset's address).
- ``private``: how both sides write these files (mode 0600, atomically).
- ``limits``: the largest request body either side reads (413 beyond).
- ``throttle``: holding back an address that sends wrong tokens (the VR
  path here, ``dvvr serve --token`` on the protocol side).
- ``redact``: keeping tokens and secrets out of log lines.
- ``answers``: every route's error answer (``errors.error_answer``) for
  tornado handlers; ``headers.check_secret`` and ``throttle``'s ``check``
  are the one secret check and the one token check.

Both processes import this package, so it imports no torch, no tornado
handlers and no jupyter_server (only jupyter_core, for the paths).
"""
