"""Lay the browser client's JavaScript dependencies into the package.

Runs ``npm pack NAME@VERSION`` for each pinned package (the npm registry is
the only network access), takes only the built ES modules the 3D client
imports plus each package's licence, and writes them to
``dvvr_jupyter/xr/static/vendor/`` with a ``VERSIONS.txt`` naming the pins.
The test-only emulated headset (iwer's UMD build) goes to
``tests/browser/vendor/``.  Nothing is fetched at run time: the files are
committed.

Run: python scripts/vendor_js.py   (needs npm; re-run after changing a pin)
"""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLIENT_VENDOR = REPO / "dvvr_jupyter" / "xr" / "static" / "vendor"
TEST_VENDOR = REPO / "tests" / "browser" / "vendor"

#: (package, version, folder, {path in the package: name in the folder})
PINS = [
    ("three", "0.187.0", CLIENT_VENDOR, {
        "package/build/three.module.js": "three.module.js",
        "package/build/three.core.js": "three.core.js",
        "package/examples/jsm/webxr/VRButton.js": "VRButton.js",
        "package/examples/jsm/controls/OrbitControls.js": "OrbitControls.js",
        "package/LICENSE": "LICENSE.three.txt",
    }),
    # Meta's Immersive Web Emulation Runtime: an emulated Quest 3 for the browser tests.
    # Its UMD build bundles gl-matrix (MIT, by Brandon Jones and Colin MacKenzie IV).
    ("iwer", "2.5.0", TEST_VENDOR, {
        "package/build/iwer.min.js": "iwer.min.js",
        "package/LICENSE": "LICENSE.iwer.txt",
    }),
]


def npm_pack(name: str, version: str, into: Path) -> Path:
    out = subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=into, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return into / out


def main() -> None:
    lines: dict[Path, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, version, folder, files in PINS:
            tarball = npm_pack(name, version, Path(tmp))
            folder.mkdir(parents=True, exist_ok=True)
            with tarfile.open(tarball) as archive:
                for member, target in files.items():
                    data = archive.extractfile(member).read()
                    (folder / target).write_bytes(data)
                    digest = hashlib.sha256(data).hexdigest()[:16]
                    lines.setdefault(folder, []).append(f"{name}@{version}  {member[len('package/'):]} -> {target}"
                                                        f"  sha256:{digest}")
            print(f"{name}@{version}: {len(files)} files -> {folder.relative_to(REPO)}")
    for folder, entries in lines.items():
        header = ("# Vendored from the npm registry by scripts/vendor_js.py (npm pack NAME@VERSION);\n"
                  "# do not edit by hand: change the pins there and re-run it.\n")
        (folder / "VERSIONS.txt").write_text(header + "\n".join(entries) + "\n")


if __name__ == "__main__":
    main()
