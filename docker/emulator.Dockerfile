# The emulator, from a binary built on the host:
#   cargo build --release -p privatelink-emulator -p privatelink-client
#   docker build -f docker/emulator.Dockerfile -t privatelink/emulator .
# BASE is the local debootstrap image (docker/base.sh); with a registry,
# --build-arg BASE=debian:bookworm-slim works too (same glibc as the host
# build on Debian bookworm).
ARG BASE=privatelink/debian:bookworm
FROM ${BASE}
COPY target/release/privatelink-emulator target/release/privatelink /usr/local/bin/
COPY docker/seed.toml /etc/privatelink/seed.toml
EXPOSE 4566 53/udp 53/tcp
CMD ["privatelink-emulator", "--api-addr", "0.0.0.0:4566"]
