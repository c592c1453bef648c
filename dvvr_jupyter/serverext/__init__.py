"""The Jupyter server extension: the VR client's stable URL
``{base_url}dvvr/vr/<token>/`` forwarded to the kernel that loaded dvvr,
and the sessions API and page.

Importing this package does not import jupyter_server (only its extension
point does); what it shares with the kernel side is in ``dvvr_jupyter.bridge``.
"""


def _jupyter_server_extension_points():
    from .app import DvvrExtension

    return [{"module": "dvvr_jupyter.serverext", "app": DvvrExtension}]
