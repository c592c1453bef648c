"""The headers of a VR request the Jupyter server forwards to a kernel."""

#: The kernel's secret (from its registration): its loopback server answers
#: only requests carrying it.
SECRET_HEADER = "X-Dvvr-Secret"
#: The headset's address, for the kernel's "VR clients in the last minute".
CLIENT_HEADER = "X-Dvvr-Client"
#: Set only by the server extension's authenticated explorer route: the
#: kernel answers its explorer routes only with it, so the VR capability URL
#: (whose forwarder never sets it) cannot reach them.
EXPLORER_HEADER = "X-Dvvr-Explorer"
