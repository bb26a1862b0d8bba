# The provider's service behind the NLB: nginx answering
# "AWS PrivateLink Connect Success." on port 80, logging each request
# (client address first) to /var/log/nginx/access.log and to stdout.
#   docker build -f docker/backend.Dockerfile -t privatelink/backend .
# BASE is the local debootstrap image (docker/base.sh), which already has
# nginx and curl; any other Debian base gets them from apt.
ARG BASE=privatelink/debian:bookworm
FROM ${BASE}
RUN if ! command -v nginx >/dev/null || ! command -v curl >/dev/null; then \
        apt-get update && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            nginx-light curl ca-certificates && \
        rm -rf /var/lib/apt/lists/*; \
    fi
COPY docker/backend/nginx.conf /etc/nginx/nginx.conf
RUN nginx -t
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
