# JupyterLab with the dvvr extension enabled and the demo ready, on port 8888.
#
#   docker build -t dvvr-jupyter .                      # CPU torch (default)
#   docker build -t dvvr-jupyter:cuda \
#       --build-arg BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#       --build-arg TORCH_INDEX= .                      # CUDA torch from PyPI
#   docker run -p 8888:8888 dvvr-jupyter
#
# The install steps are the README's set-up command (CI runs the same one).
ARG BASE=python:3.11-slim
FROM ${BASE}

# CPU wheels of the pinned torch/torchvision by default; empty = PyPI's CUDA build.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_EXTRA_INDEX_URL=${TORCH_INDEX} \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1

RUN (command -v python3 >/dev/null && python3 -m venv --help >/dev/null) || \
    (apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*)

WORKDIR /opt/dvvr-jupyter
COPY . .
# README set-up: a virtual environment and a regular (non-editable) install, so
# the server extension's enabling file lands in <venv>/etc/jupyter.
RUN python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt '.[demo,lab]'
ENV PATH=/opt/dvvr-jupyter/.venv/bin:$PATH

EXPOSE 8888
# Jupyter's own token guards the notebook UI; the VR path carries its own capability.
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--allow-root", \
     "--ServerApp.allow_remote_access=True", "--notebook-dir=/opt/dvvr-jupyter/notebooks"]
