#!/usr/bin/env bash
# A throwaway PostgreSQL for chatdeploy-postgres's tests, on loopback only.
#
#   bash .ci/postgres.sh run -- cargo test -p chatdeploy-postgres
#       start a server, run the command with CHATDEPLOY_TEST_POSTGRES_URL set,
#       stop the server and delete it, whatever the command's outcome
#   eval "$(bash .ci/postgres.sh start)"
#       start a server and print `export` lines for this shell:
#       CHATDEPLOY_TEST_POSTGRES_URL, CHATDEPLOY_TEST_POSTGRES_CA (the CA of
#       the server's TLS certificate, when openssl is available) and
#       CHATDEPLOY_PG_DIR (the server's directory, for `stop`)
#   bash .ci/postgres.sh stop [DIR]
#       stop the server in DIR (default: $CHATDEPLOY_PG_DIR) and delete DIR
#   source .ci/postgres.sh && chatdeploy_pg_start
#       the same as `start`, exporting into the calling shell and stopping the
#       server when that shell exits (an EXIT trap)
#
# It installs Debian's `postgresql` package when no `initdb` is found, creates
# a cluster with `initdb` in a temporary directory owned by the `postgres`
# system user (PostgreSQL refuses to run as root; the user is created when
# missing), listens on a free port of 127.0.0.1 with its unix socket in that
# directory, requires a password (SCRAM) over TCP, offers TLS with a
# certificate for localhost and 127.0.0.1 signed by a fresh CA, and creates
# the database chatdeploy_test owned by the role chatdeploy.

chatdeploy_pg_log() { printf 'postgres.sh: %s\n' "$*" >&2; }

# The directory holding initdb and pg_ctl (Debian keeps them out of PATH).
chatdeploy_pg_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return 0
    fi
    return 1
}

chatdeploy_pg_install() {
    if chatdeploy_pg_bindir >/dev/null; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        chatdeploy_pg_log "initdb not found; install PostgreSQL (Debian: sudo apt-get install -y postgresql)"
        return 1
    fi
    chatdeploy_pg_log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    # Do not let the package start its own cluster (no service manager here).
    local policy=/usr/sbin/policy-rc.d created_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
    local status=$?
    [ -n "$created_policy" ] && rm -f "$policy"
    [ $status = 0 ] || { chatdeploy_pg_log "apt-get install postgresql failed"; return 1; }
    chatdeploy_pg_bindir >/dev/null
}

# Runs a command as the server's user: root cannot run PostgreSQL.
chatdeploy_pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

chatdeploy_pg_free_port() {
    local port tries
    for tries in $(seq 1 200); do
        port=$(( 20000 + (RANDOM % 20000) ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# Makes a CA and a server certificate for localhost/127.0.0.1 in $1.
chatdeploy_pg_certificates() {
    local dir=$1
    command -v openssl >/dev/null 2>&1 || return 1
    (
        cd "$dir" &&
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=chatdeploy test CA" \
            -keyout ca.key -out ca.crt -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign &&
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout server.key -out server.csr &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext &&
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.crt
    ) >/dev/null 2>&1
}

# Starts a server; prints `export NAME=value` lines on stdout.
chatdeploy_pg_start_print() {
    chatdeploy_pg_install || return 1
    local bin dir port password
    bin=$(chatdeploy_pg_bindir) || { chatdeploy_pg_log "no initdb found"; return 1; }
    if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/sh postgres || return 1
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/chatdeploy-pg.XXXXXX") || return 1
    chmod 700 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s\n' "$password" >"$dir/pwfile"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
    if ! chatdeploy_pg_as_owner "$bin/initdb" -D "$dir/data" -U chatdeploy --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
        chatdeploy_pg_log "initdb failed:"; cat "$dir/initdb.log" >&2; rm -rf "$dir"; return 1
    fi
    rm -f "$dir/pwfile"
    local tls_conf="ssl = off" ca=
    if chatdeploy_pg_certificates "$dir"; then
        cp "$dir/server.crt" "$dir/server.key" "$dir/data/"
        [ "$(id -u)" = 0 ] && chown postgres: "$dir/data/server.crt" "$dir/data/server.key"
        chmod 600 "$dir/data/server.key"
        tls_conf="ssl = on"
        ca="$dir/ca.crt"
        chmod 644 "$ca"
    else
        chatdeploy_pg_log "openssl not found: the server offers no TLS (TLS tests are skipped)"
    fi
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
$tls_conf
EOF
    local attempt
    for attempt in 1 2 3 4 5; do
        port=$(chatdeploy_pg_free_port) || { chatdeploy_pg_log "no free port"; return 1; }
        if chatdeploy_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port" start >/dev/null 2>&1; then
            break
        fi
        port=
    done
    if [ -z "$port" ]; then
        chatdeploy_pg_log "the server did not start:"; tail -n 20 "$dir/server.log" >&2; rm -rf "$dir"; return 1
    fi
    if ! chatdeploy_pg_as_owner "$bin/createdb" -h "$dir" -p "$port" -U chatdeploy chatdeploy_test; then
        chatdeploy_pg_log "createdb failed"
        chatdeploy_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
        rm -rf "$dir"
        return 1
    fi
    printf '%s\n' "$bin" >"$dir/bindir"
    chatdeploy_pg_log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)"
    echo "export CHATDEPLOY_PG_DIR='$dir'"
    echo "export CHATDEPLOY_TEST_POSTGRES_URL='postgres://chatdeploy:$password@127.0.0.1:$port/chatdeploy_test'"
    if [ -n "$ca" ]; then
        echo "export CHATDEPLOY_TEST_POSTGRES_CA='$ca'"
    fi
}

# Stops the server in $1 (default $CHATDEPLOY_PG_DIR) and deletes its directory.
chatdeploy_pg_stop() {
    local dir=${1:-${CHATDEPLOY_PG_DIR:-}}
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then
        return 0
    fi
    case "$dir" in
        */chatdeploy-pg.*) ;;
        *) chatdeploy_pg_log "refusing to delete $dir (not made by this script)"; return 1 ;;
    esac
    local bin
    bin=$(cat "$dir/bindir" 2>/dev/null || chatdeploy_pg_bindir)
    if [ -f "$dir/data/postmaster.pid" ]; then
        chatdeploy_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            chatdeploy_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
    fi
    rm -rf "$dir"
    chatdeploy_pg_log "stopped and removed $dir"
}

# For a sourcing shell: start, export, and stop at exit.
chatdeploy_pg_start() {
    local exports
    exports=$(chatdeploy_pg_start_print) || return 1
    eval "$exports"
    trap 'chatdeploy_pg_stop "$CHATDEPLOY_PG_DIR"' EXIT
}

chatdeploy_pg_main() {
    set -uo pipefail
    case "${1:-}" in
        start)
            chatdeploy_pg_start_print
            ;;
        stop)
            chatdeploy_pg_stop "${2:-}"
            ;;
        run)
            shift
            [ "${1:-}" = "--" ] && shift
            [ $# -gt 0 ] || { chatdeploy_pg_log "usage: $0 run -- COMMAND..."; return 2; }
            local exports status
            exports=$(chatdeploy_pg_start_print) || return 1
            eval "$exports"
            trap 'chatdeploy_pg_stop "$CHATDEPLOY_PG_DIR"' EXIT
            "$@"
            status=$?
            return $status
            ;;
        *)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
            return 2
            ;;
    esac
}

# Run as a script (not sourced): dispatch the subcommand.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    chatdeploy_pg_main "$@"
    exit $?
fi
