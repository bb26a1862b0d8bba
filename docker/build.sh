#!/bin/sh
# Build everything the docker-compose demo needs, without a registry:
#   1. the base image privatelink/debian:bookworm (docker/base.sh, debootstrap)
#   2. the binaries: cargo build --release (emulator and client)
#   3. the images privatelink/emulator, privatelink/backend, privatelink/consumer
# Idempotent: the base image is made once (FORCE=1 docker/base.sh remakes it),
# cargo and docker rebuild only what changed.
# Settings, from the environment:
#   BASE_IMAGE  base of the three images (privatelink/debian:bookworm; with a
#               registry e.g. debian:bookworm-slim, and then no debootstrap)
#   TAG         tag of the three images (latest)
set -eu

cd "$(dirname "$0")/.."
BASE_IMAGE=${BASE_IMAGE:-privatelink/debian:bookworm}
TAG=${TAG:-latest}

run() { echo "build.sh: $*"; "$@"; }

if [ "$BASE_IMAGE" = privatelink/debian:bookworm ]; then
    run ./docker/base.sh
else
    echo "build.sh: base image $BASE_IMAGE (docker/base.sh not needed)"
fi

run cargo build --release -p privatelink-emulator -p privatelink-client

for image in emulator backend consumer; do
    start=$(date +%s)
    run docker build --build-arg BASE="$BASE_IMAGE" \
        -f "docker/$image.Dockerfile" -t "privatelink/$image:$TAG" .
    echo "build.sh: privatelink/$image:$TAG built in $(( $(date +%s) - start )) s"
done
docker image ls 'privatelink/*'
