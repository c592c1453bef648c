"""The Jupyter server extension: the VR client's stable URL
``{base_url}dvvr/vr/<token>/`` forwarded to the kernel that loaded dvvr.

Importing this package does not import jupyter_server (the kernel side
shares ``token`` and ``registry``).
"""


def _jupyter_server_extension_points():
    from .app import DvvrExtension

    return [{"module": "dvvr_jupyter.serverext", "app": DvvrExtension}]
