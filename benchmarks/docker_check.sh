#!/usr/bin/env bash
# Build the Dockerfile without a Docker engine, run `dvvr serve projects/demo`
# inside the image and replay the VR client's start-up and one switch against it.
#
#   bash benchmarks/docker_check.sh            # build, serve, replay, then remove what it made
#   KEEP=1 bash benchmarks/docker_check.sh     # keep the images (rerun: no rebuild of the base)
#   KEEP=1 REUSE=1 bash benchmarks/docker_check.sh   # and serve from the image already built
#
# Daemonless: buildah with `vfs` storage and `chroot` isolation (Debian's
# `apt-get install buildah debootstrap`), as root, no daemon, no user
# namespaces, no overlay mounts.  The container shares the host's network.
#
# Settings (environment):
#   BASE         the FROM image; unset: a Debian bookworm root (Python 3.11) made
#                here with debootstrap and imported as localhost/dvvr-base:bookworm,
#                for machines that reach Debian's mirror but no image registry
#   TORCH_INDEX  passed as the Dockerfile's TORCH_INDEX build argument when set
#                (empty: torch from PyPI, for machines that cannot reach
#                download.pytorch.org); unset: the Dockerfile's default
#   CA_BUNDLE    a CA bundle to trust inside the build (an HTTPS proxy that signs
#                with its own CA); bind-mounted with a pip.conf naming it
#   PORT         where dvvr serve listens (default 5571, loopback)
#   DEBIAN_MIRROR  for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-5571}
IMAGE=localhost/dvvr-jupyter:check
BASE_IMAGE=localhost/dvvr-base:bookworm
WORK=$(mktemp -d /var/tmp/dvvr-docker-check.XXXXXX)
BUILDAH=(buildah --storage-driver vfs)
export BUILDAH_ISOLATION=chroot
container=""
server=""

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -n "$container" ]; then "${BUILDAH[@]}" rm "$container" >/dev/null || true; fi
    if [ "${KEEP:-0}" != 1 ]; then
        "${BUILDAH[@]}" rmi "$IMAGE" >/dev/null 2>&1 || true
        if [ -z "${BASE:-}" ]; then "${BUILDAH[@]}" rmi "$BASE_IMAGE" >/dev/null 2>&1 || true; fi
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

step "tools"
buildah --version
echo "disk: $(df -h /var/lib/containers 2>/dev/null | awk 'NR==2 {print $4 " free"}')"

if [ -z "${BASE:-}" ]; then
    BASE=$BASE_IMAGE
    if ! "${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
        step "base image: debootstrap bookworm (python3, python3-venv) -> $BASE"
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$WORK/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" ||
            { tail -20 "$WORK/debootstrap.log"; exit 1; }
        rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
        base=$("${BUILDAH[@]}" from scratch)
        mnt=$("${BUILDAH[@]}" mount "$base")
        tar -C "$WORK/rootfs" -c . | tar -C "$mnt" -x
        "${BUILDAH[@]}" umount "$base" >/dev/null
        "${BUILDAH[@]}" config --cmd /bin/bash "$base"
        "${BUILDAH[@]}" commit --quiet "$base" "$BASE" >/dev/null
        "${BUILDAH[@]}" rm "$base" >/dev/null
        rm -rf "$WORK/rootfs"
    fi
fi

step "build the Dockerfile (FROM $BASE)"
build=(--isolation chroot --build-arg "BASE=$BASE" -t "$IMAGE")
if [ -n "${TORCH_INDEX+set}" ]; then build+=(--build-arg "TORCH_INDEX=$TORCH_INDEX"); fi
if [ -n "${CA_BUNDLE:-}" ]; then
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$WORK/pip.conf"
    build+=(--volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" --volume "$WORK/pip.conf:/etc/pip.conf:ro")
fi
if [ "${REUSE:-0}" = 1 ] && "${BUILDAH[@]}" inspect --type image "$IMAGE" >/dev/null 2>&1; then
    echo "REUSE=1: $IMAGE exists, not rebuilt"
else
    time "${BUILDAH[@]}" bud "${build[@]}" .
fi
"${BUILDAH[@]}" images "$IMAGE"

step "inside the image"
container=$("${BUILDAH[@]}" from "$IMAGE")
in_image() { "${BUILDAH[@]}" run --isolation chroot "$container" -- "$@"; }
in_image sh -c 'python --version; pip list 2>/dev/null | grep -E "^(torch|torchvision|dvvr-jupyter|jupyterlab) "'
in_image jupyter server extension list 2>&1 | grep -E "dvvr|enabled" || true

step "dvvr serve projects/demo in the image, on 127.0.0.1:$PORT"
# `buildah run` answers Ctrl+C by killing its process and starts it with Ctrl+C
# ignored, so the server writes its process id (chroot isolation: no process
# namespace) and is started with Ctrl+C's default restored, for a real Ctrl+C below.
RESTORE_CTRL_C='import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])'
"${BUILDAH[@]}" run --isolation chroot --volume "$WORK:/check" "$container" -- \
    sh -c "cd /opt/dvvr-jupyter && echo \$\$ >/check/serve.pid && exec python -c '$RESTORE_CTRL_C' dvvr serve projects/demo --port $PORT" \
    >"$WORK/serve.log" 2>&1 &
server=$!
for _ in $(seq 600); do  # a hang guard: the demo loads in seconds
    grep -q "^VR client base URL: " "$WORK/serve.log" && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.5
done
cat "$WORK/serve.log"
grep -q "^VR client base URL: " "$WORK/serve.log" || { echo "dvvr serve did not start"; exit 1; }

step "replay the VR client against it (from the host)"
"${PYTHON:-python3}" -m dvvr_jupyter.protocol.client "http://127.0.0.1:$PORT/"

step "stop (Ctrl+C) and clean up"
pid=$(cat "$WORK/serve.pid")
grep -q dvvr "/proc/$pid/cmdline"  # that process id is the server's, on this host
kill -INT "$pid"
status=0
wait "$server" || status=$?
server=""
grep -v " dvvr.access " "$WORK/serve.log" | tail -n +5
echo "dvvr serve exited with status $status"
[ "$status" = 0 ]
echo "docker check: ok"
