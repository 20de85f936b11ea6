#!/usr/bin/env bash
# Container start: announce the storage backend, guard local storage against a missing volume,
# validate settings and storage, then hand PID 1 to supervisord. See docs/architecture.md,
# The container.
# `python` and `supervisord` are looked up on PATH. Sourcing this file only defines the functions.
set -eu

SERVICE_USER=vexa
SUPERVISOR_CONF=/etc/vexa-lite/supervisord.conf
DEFAULT_DIR=/var/lib/vexa/recordings

die() {
    echo "error: $*" >&2
    exit 1
}

is_true() {
    case "$(echo "${1:-}" | tr '[:upper:]' '[:lower:]')" in
        true | 1 | yes | on) return 0 ;;
        *) return 1 ;;
    esac
}

# Print "MOUNT_POINT FSTYPE" of the mount holding $1: the longest mount point that is a path prefix
# of it (a later line wins a tie: it is mounted on top). Reads $2 in /proc/self/mountinfo format.
mount_of() {
    local dir=$1 mountinfo=$2 best="" best_fs="" point parent fs i
    local -a f
    while read -r -a f; do
        if [ "${#f[@]}" -lt 10 ]; then continue; fi
        point=$(printf '%b' "${f[4]}") # mountinfo escapes space, tab, newline, backslash as \ooo
        for ((i = 6; i < ${#f[@]}; i++)); do
            if [ "${f[i]}" = "-" ]; then break; fi
        done
        fs=${f[i + 1]:-unknown}
        parent=${point%/} # "" for the root, so "$parent"/* matches every absolute path
        case "$dir" in
            "$point" | "$parent"/*)
                if [ "${#point}" -ge "${#best}" ]; then
                    best=$point
                    best_fs=$fs
                fi
                ;;
        esac
    done <"$mountinfo"
    printf '%s %s\n' "${best:-/}" "${best_fs:-unknown}"
}

# Why $1 would lose its files with the container, or nothing when it sits on a real volume.
volume_problem() {
    local dir=$1 mountinfo=$2 found point fs
    if [ ! -r "$mountinfo" ]; then
        echo "the mount table $mountinfo cannot be read, so a volume cannot be confirmed"
        return
    fi
    found=$(mount_of "$dir" "$mountinfo")
    point=${found% *}
    fs=${found##* }
    case "$fs" in
        tmpfs | ramfs) echo "it is on $fs (memory) mounted at $point" ;;
        *) if [ "$point" = / ]; then echo "it is on the container's own writable layer"; fi ;;
    esac
}

warn_no_volume() {
    local dir=$1 why=$2 line
    line=$(printf '%*s' 78 '' | tr ' ' '!')
    {
        echo "$line"
        echo "WARNING: LOCAL_STORAGE_DIR=$dir is NOT on a mounted volume:"
        echo "WARNING: $why."
        echo "WARNING: Recordings stored there are LOST when this container is removed or replaced"
        echo "WARNING: (upgrade, redeploy, docker rm). Keep them by mounting a volume:"
        echo "WARNING:"
        echo "WARNING:     -v vexa-recordings:$dir"
        echo "WARNING:"
        echo "WARNING: Set LITE_REQUIRE_VOLUME=true to refuse to start without one."
        echo "$line"
    } >&2
}

check_volume() {
    local dir=$1 why
    why=$(volume_problem "$dir" "${LITE_MOUNTINFO:-/proc/self/mountinfo}")
    if [ -z "$why" ]; then
        echo "volume: $dir is on a mounted volume"
    elif is_true "${LITE_REQUIRE_VOLUME:-false}"; then
        die "LOCAL_STORAGE_DIR=$dir is not on a mounted volume ($why) and LITE_REQUIRE_VOLUME=true:" \
            "run with -v vexa-recordings:$dir"
    else
        warn_no_volume "$dir" "$why"
    fi
}

# Root inside the image (e.g. `--user 0`): everything below then runs as the service user.
root_in_image() {
    [ "$(id -u)" = 0 ] && id "$SERVICE_USER" >/dev/null 2>&1
}

# Create the directory; as root, hand it to the service user (the image itself runs as that user).
prepare_dir() {
    local dir=$1
    mkdir -p "$dir" 2>/dev/null || die "cannot create LOCAL_STORAGE_DIR=$dir (as user $(id -un))"
    if root_in_image; then
        chown "$SERVICE_USER:$SERVICE_USER" "$dir"
    fi
}

as_service_user() {
    if root_in_image; then
        exec setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups "$@"
    fi
    exec "$@"
}

main() {
    local line backend dir
    # The backend rule lives in Python only (lite/settings.py); it prints its own error line.
    line=$(python -m lite backend) || exit 1
    echo "$line"
    backend=${line#storage: }
    backend=${backend%% *}
    if [ "$backend" = local ]; then
        dir=$(realpath -m "${LOCAL_STORAGE_DIR:-$DEFAULT_DIR}")
        check_volume "$dir"
        prepare_dir "$dir"
    fi
    # PORT and LITE_HOST feed supervisord.conf's %(ENV_...)s, which needs them set.
    export PORT="${PORT:-8056}" LITE_HOST="${LITE_HOST:-0.0.0.0}"
    if root_in_image; then
        # supervisord reopens /dev/stdout and /dev/stderr for its logs; podman gives them to a
        # non-root --user, so do the same before dropping root.
        # ($$, not self: chown's own fd 2 is the /dev/null below)
        chown "$SERVICE_USER" "/proc/$$/fd/1" "/proc/$$/fd/2" 2>/dev/null || true
    fi
    (as_service_user python -m lite check) || exit 1
    as_service_user supervisord -c "$SUPERVISOR_CONF"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
