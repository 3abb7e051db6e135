# Shell functions shared by the maintainer scripts of the easd .deb (postinst) and .rpm
# (%pre, %post). Installed as /usr/share/easd/package-setup.sh; sourced, never run.
#
# They only ever add what is missing: an upgrade or a reinstall finds the user, the state
# directory, the certificate and the database in place and leaves them alone.

EASD_CONF=/etc/easd/easd.conf
EASD_STATE=/var/lib/easd

# The value of setting $1 in easd.conf, empty when it is not set. easd's format: `key =
# value` lines, `#` comment lines, no inline comments.
easd_conf_value() {
    [ -r "$EASD_CONF" ] || return 0
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$EASD_CONF" |
        sed 's/[[:space:]]*$//' | tail -n 1
}

# The system user and group easd: home /var/lib/easd, no login shell, no home made.
easd_create_user() {
    if ! getent group easd >/dev/null; then
        groupadd --system easd
    fi
    if ! getent passwd easd >/dev/null; then
        useradd --system --gid easd --home-dir "$EASD_STATE" --no-create-home \
            --shell /usr/sbin/nologin --comment "easd Exchange ActiveSync server" easd
    fi
}

# Runs a command as the user easd, so that every file it makes belongs to the service.
easd_as_service_user() {
    runuser -u easd -- "$@"
}

# Names for the self-signed certificate: the configured `hostname`, else this machine's
# name and, when the resolver knows one, its fully qualified name.
easd_certificate_hosts() {
    configured=$(easd_conf_value hostname)
    if [ -n "$configured" ]; then
        echo "$configured"
        return 0
    fi
    short=$(uname -n)
    echo "$short"
    if command -v hostname >/dev/null 2>&1; then
        full=$(timeout 5 hostname --fqdn 2>/dev/null || true)
        case "$full" in
            "$short" | "" | localhost | localhost.*) ;;
            *.*) echo "$full" ;;
        esac
    fi
}

# A self-signed certificate and key at the configured paths, made by the user easd. easd
# prints the SHA-256 fingerprint, which the admin compares with the one the phone shows.
easd_make_certificate() {
    set --
    for host in $(easd_certificate_hosts); do
        set -- "$@" --host "$host"
    done
    if ! easd_as_service_user /usr/bin/easd --config "$EASD_CONF" cert self-signed "$@"; then
        # A name a certificate cannot carry: fall back to easd's own choice (the
        # configured hostname, else the system's).
        easd_as_service_user /usr/bin/easd --config "$EASD_CONF" cert self-signed
    fi
}

# The state directory (mode 0700, owned by easd), the certificate named in easd.conf when
# neither of its two files exists, and the database when it does not exist yet. Both are
# made by the user easd, so the service can always read and write them.
easd_prepare_state() {
    install -d -o easd -g easd -m 0700 "$EASD_STATE"
    if [ ! -r "$EASD_CONF" ]; then
        # The admin deleted the conffile; easd would not know where anything goes.
        echo "easd: warning: $EASD_CONF is missing; no certificate or database made" >&2
        return 0
    fi

    cert=$(easd_conf_value cert)
    key=$(easd_conf_value key)
    if [ -n "$cert" ] && { [ ! -e "$cert" ] || [ ! -e "$key" ]; }; then
        case "$cert:$key" in
            "$EASD_STATE"/*:"$EASD_STATE"/*)
                if [ -e "$cert" ] || [ -e "$key" ]; then
                    echo "easd: warning: only one of $cert and $key exists; easd cannot" \
                        "start until both do (easd cert self-signed --force makes both)" >&2
                else
                    easd_make_certificate
                fi
                ;;
            *)
                echo "easd: warning: $cert or $key is missing; easd cannot start until" \
                    "both exist" >&2
                ;;
        esac
    fi

    database=$(easd_conf_value database)
    database=${database:-$EASD_STATE/easd.db}
    case "$database" in
        "$EASD_STATE"/*)
            if [ ! -e "$database" ]; then
                easd_as_service_user /usr/bin/easd --config "$EASD_CONF" user list >/dev/null
            fi
            ;;
    esac
}
