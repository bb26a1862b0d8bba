#!/bin/sh
# Build the local base image privatelink/debian:bookworm from Debian packages
# with debootstrap, for docker engines that have no registry to pull from.
#
# The image carries everything the demo images need, so their Dockerfiles
# run no package manager and need no network:
#   ca-certificates curl bind9-dnsutils iproute2 nginx-light python3 awscli
#
# Idempotent: does nothing if the image exists (FORCE=1 rebuilds it).
# Needs root (debootstrap). Settings, from the environment:
#   IMAGE   image name           (privatelink/debian:bookworm)
#   SUITE   Debian suite         (bookworm)
#   MIRROR  Debian mirror URL    (first Debian mirror in /etc/apt/sources.list*,
#                                 else http://deb.debian.org/debian)
#   FORCE=1 rebuild even if the image exists
set -eu

IMAGE=${IMAGE:-privatelink/debian:bookworm}
SUITE=${SUITE:-bookworm}
# python3-cffi-backend: debootstrap's resolver does not follow virtual packages
# (python3-cryptography, needed by awscli, depends on python3-cffi-backend-api-*)
INCLUDE=ca-certificates,curl,bind9-dnsutils,iproute2,nginx-light,python3,awscli,python3-cffi-backend

say() { echo "base.sh: $*"; }

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "$IMAGE exists, nothing to do (FORCE=1 rebuilds it)"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    say "debootstrap needs root; run as root (or with sudo)" >&2
    exit 1
fi

# The Debian mirror this machine uses: the first URI of an enabled source
# (one-line *.list or deb822 *.sources) that serves $SUITE and is not the
# security archive.
find_mirror() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v s="$SUITE" '$1 == "deb" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i+1) == s && $i !~ /security/) { print $i; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$SUITE" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") &&
                    uris !~ /security/ && enabled != "no") { split(uris, u, " "); print u[1]; found = 1 }
                types = ""; uris = ""; suites = ""; enabled = ""
            }
            /^[ \t]*$/ { flush(); if (found) exit; next }
            /^#/ { next }
            { k = tolower($1); sub(/:$/, "", k); $1 = ""; sub(/^ +/, "")
              if (k == "types") types = $0; else if (k == "uris") uris = $0
              else if (k == "suites") suites = $0; else if (k == "enabled") enabled = tolower($0) }
            END { if (!found) flush() }' "$f"
    done
}

if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(find_mirror | head -n 1)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
say "mirror $MIRROR, suite $SUITE"

if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

DIR=$(mktemp -d /tmp/privatelink-rootfs.XXXXXX)
cleanup() {
    # debootstrap may leave /proc or /sys mounted if it fails half-way
    for m in proc sys dev/pts; do umount "$DIR/$m" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

start=$(date +%s)
say "debootstrap --variant=minbase --include=$INCLUDE $SUITE $DIR"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$DIR" "$MIRROR" \
    >"$DIR.log" 2>&1 || {
    tail -n 20 "$DIR.log" >&2; rm -f "$DIR.log"
    grep -A4 '^dpkg: ' "$DIR/debootstrap/debootstrap.log" 2>/dev/null | tail -n 40 >&2
    exit 1
}
rm -f "$DIR.log"
say "debootstrap took $(( $(date +%s) - start )) s"

# Make it a container image: no daemons started by later package installs,
# no documentation in later installs, no package caches, a clean apt.
cat >"$DIR/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
exit 101
EOF
chmod 755 "$DIR/usr/sbin/policy-rc.d"
cat >"$DIR/etc/dpkg/dpkg.cfg.d/01-container-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$DIR/etc/apt/apt.conf.d/01-container" <<'EOF'
APT::Install-Recommends "false";
Acquire::Languages "none";
EOF
echo "deb $MIRROR $SUITE main" >"$DIR/etc/apt/sources.list"
find "$DIR/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$DIR/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$DIR/usr/share/man/"* "$DIR/usr/share/info/"*
find "$DIR/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$DIR/var/cache/apt/"*.bin "$DIR/var/cache/apt/archives/"*.deb \
    "$DIR/var/lib/apt/lists/"* "$DIR/var/log/"*.log "$DIR/var/log/apt/"* \
    "$DIR/tmp/"* "$DIR/root/.cache"
rm -rf "$DIR/proc/"* "$DIR/sys/"* "$DIR/dev/"*
: >"$DIR/etc/hostname"
: >"$DIR/etc/resolv.conf"

start=$(date +%s)
say "importing $IMAGE"
tar --numeric-owner -C "$DIR" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/bash"]' \
    -m "debootstrap --variant=minbase $SUITE $MIRROR" - "$IMAGE" >/dev/null
say "import took $(( $(date +%s) - start )) s"
say "$IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%d MB", $1 / 1000000 }')"
