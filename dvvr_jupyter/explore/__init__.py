"""The notebook explorer's request layer: what the explorer asks, answered
from engine objects, whichever way the question travelled.

Why a package of its own: the explorer's questions ("this
layer's channels, page 3", "make image 5 the input", "re-track these
modules") reach the kernel two ways: HTTP through the Jupyter server to the
kernel's own server thread (``kernel/explorer_route.py``), or the widget's
comm where no server extension runs (``widgets/explorer_widget.py``).  Both
call the same ``ExplorerRequests``, so it can live in neither: it sits beside
``protocol`` (the VR client's requests, answered from the same engine), above
the engine and below ``kernel`` and ``widgets``.  It imports no tornado, no
IPython and no widget library: it is tested with a plain session.

Why ``explore`` and not ``explorer``: ``dvvr.explorer`` is the public function
that shows the widget, and a subpackage of that name would replace it as an
attribute of ``dvvr_jupyter`` once imported.

- ``requests.py``: the dispatcher (paths -> answers, errors as 4xx JSON) and
  the threads it answers on;
- ``module_picker.py``: the tracked-modules panel (the module tree, presets,
  checking a choice before a re-track).
"""
