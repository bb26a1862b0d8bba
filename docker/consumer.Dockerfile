# A host in the consumer VPC: curl, dig and the AWS CLI; it idles so that
# commands are run in it with `exec`.
#   docker build -f docker/consumer.Dockerfile -t privatelink/consumer .
# BASE is the local debootstrap image (docker/base.sh), which already has
# the tools; any other Debian base gets them from apt.
ARG BASE=privatelink/debian:bookworm
FROM ${BASE}
RUN if ! command -v curl >/dev/null || ! command -v dig >/dev/null || \
       ! command -v aws >/dev/null || ! command -v ip >/dev/null; then \
        apt-get update && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            ca-certificates curl bind9-dnsutils iproute2 awscli && \
        rm -rf /var/lib/apt/lists/*; \
    fi
# No pager in the image: AWS CLI v2 would fail looking for `less`.
ENV AWS_PAGER=""
CMD ["sleep", "infinity"]
