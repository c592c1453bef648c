"""Header names shared by the protocol app, the kernel side and the server
extension (a module of its own: the Jupyter server imports it without tornado
handlers or torch)."""

#: The secret the Jupyter server sends to a kernel's loopback server.
SECRET_HEADER = "X-Dvvr-Secret"
#: The headset's address, forwarded by the server extension (for "connected clients").
CLIENT_HEADER = "X-Dvvr-Client"
