#!/usr/bin/env bash
# Build the local test image xxci-test/busybox:latest without any registry.
#
# The root filesystem is Debian's static busybox plus a symlink for each applet
# (at the paths `busybox --list-full` gives: /bin/sh, /usr/bin/env, ...), /tmp,
# /workspace and an /etc/passwd with root; it is packed with tar and `docker import`ed.
#
# Idempotent: does nothing when the image exists, unless --force is given.
# Needs a running engine (scripts/ensure-docker.sh); installs busybox-static with apt
# when /bin/busybox is missing.
set -euo pipefail

image=${XXCI_TEST_IMAGE:-xxci-test/busybox:latest}
force=0
for arg in "$@"; do
    case $arg in
    --force) force=1 ;;
    -h | --help)
        echo "usage: $0 [--force]"
        exit 0
        ;;
    *)
        echo "build-test-image: unknown argument: $arg" >&2
        exit 2
        ;;
    esac
done

say() { echo "build-test-image: $*" >&2; }

old_id=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
if [[ $force -eq 0 ]] && [[ -n $old_id ]]; then
    exit 0
fi

busybox=/bin/busybox
if [[ ! -x $busybox ]]; then
    say "$busybox missing: installing busybox-static"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,workspace}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
# Symlinks named by --list-full rather than `busybox --install -s`, which would need a
# chroot to make links that point inside the image rather than at the host's binary.
while read -r applet; do
    [[ $applet == bin/busybox ]] && continue
    ln -sf /bin/busybox "$rootfs/$applet"
done < <("$busybox" --list-full)
[[ -L $rootfs/bin/sh ]] || ln -s /bin/busybox "$rootfs/bin/sh"

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF

say "importing $image"
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
    docker import \
        --change 'CMD ["/bin/sh"]' \
        --change 'WORKDIR /workspace' \
        --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
        --message "xxci test image (busybox $("$busybox" | head -n1 | awk '{print $2}'))" \
        - "$image" >/dev/null
# The image has no libc: this also catches a dynamically linked busybox.
docker run --rm "$image" sh -c 'test -x /bin/sh && test -d /workspace' ||
    {
        say "$image was imported but does not run"
        exit 1
    }
new_id=$(docker image inspect --format '{{.Id}}' "$image")
if [[ -n $old_id ]] && [[ $old_id != "$new_id" ]]; then
    # The rebuilt image took the tag: drop the old one unless a container still uses it.
    docker image rm "$old_id" >/dev/null 2>&1 || true
fi
say "built $image"
