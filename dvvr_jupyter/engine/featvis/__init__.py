"""Feature visualization: for each channel of a layer, the picture that
excites it most, grown from the current input.

One room per job:

- the method (what a picture is and how it is optimised):
  ``config`` (``FeatVisConfig`` and its defaults), ``method`` (the render
  loop, ``visualize``), ``parameterisations`` (what the optimiser moves),
  ``transforms`` (robustness transforms), ``fold`` (BatchNorms folded into
  convolutions), ``redirect`` (ReLU gradients for dead channels);
- the jobs (running the method in the background for ``network.featvis``):
  ``service`` (``FeatVisService``, what a network offers), ``jobs`` (what a
  caller holds: ``FeatVisJob``), ``job_queue`` (the worker thread),
  ``copies`` (the model copies per device), ``memory`` (giving memory back
  once idle), ``at_exit`` (stopping jobs when the interpreter exits),
  ``modes`` (the VR client's load / generate);
- the results: ``store`` (files in the cache folder, keyed by weights),
  ``results`` (the store, else memory when the folder refuses).

Modules are imported by their own names; this package imports nothing.
"""
