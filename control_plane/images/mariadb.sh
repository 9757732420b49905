#!/usr/bin/env bash
# Recipe: MariaDB 11.x (the specification asks 11.2+; Debian 12 ships 10.11) from Debian 13's packages,
# debootstrapped and imported as a Docker image: no registry is reachable here. The control plane's
# test bed tags the image by the hash of this file, so any edit here builds a new image.
#
#   mariadb.sh IMAGE_REF
#
# The container takes MARIADB_PASSWORD (and optionally MARIADB_DATABASE, MARIADB_USER) from its
# environment (give them with --env-file, never on a command line) and creates that database and an
# app@'%' user on every start, so a fresh container and a reused data directory behave the same.
set -euo pipefail

ref=$1
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase --include=mariadb-server trixie "$rootfs" "$mirror" >/dev/null

# The data directory the package's postinst made belongs to the build, not to the image.
rm -rf "$rootfs"/var/lib/mysql/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

cat >"$rootfs/usr/local/bin/sbx-mariadb-entrypoint" <<'ENTRYPOINT'
#!/bin/sh
set -eu
database=${MARIADB_DATABASE:-sandbox}
user=${MARIADB_USER:-app}
password=${MARIADB_PASSWORD:-}
# The values land in SQL below: allow only characters that need no quoting.
for value in "$database" "$user" "$password"; do
  case "$value" in
    "" | *[!A-Za-z0-9_-]*) echo "MARIADB_DATABASE, MARIADB_USER and MARIADB_PASSWORD must be non-empty [A-Za-z0-9_-]" >&2; exit 2 ;;
  esac
done
unset MARIADB_PASSWORD
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld /var/lib/mysql
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
fi
init=/run/mysqld/init.sql
umask 077
cat >"$init" <<SQL
CREATE DATABASE IF NOT EXISTS \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$password';
ALTER USER '$user'@'%' IDENTIFIED BY '$password';
GRANT ALL ON \`$database\`.* TO '$user'@'%';
SQL
chown mysql:mysql "$init"
exec mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address=0.0.0.0 --port=3306 \
  --skip-name-resolve --init-file="$init" "$@"
ENTRYPOINT
chmod 0755 "$rootfs/usr/local/bin/sbx-mariadb-entrypoint"

tar -C "$rootfs" -c . | docker import \
  -c 'ENTRYPOINT ["/usr/local/bin/sbx-mariadb-entrypoint"]' -c 'EXPOSE 3306' \
  -c 'LABEL ai.oneclick.sandbox.component=mariadb' - "$ref" >/dev/null
echo "built $ref"
