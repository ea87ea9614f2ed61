#!/bin/sh
# Makes what the compose set-up needs once (kept in the "secrets" volume, never in git): a
# private CA, TLS certificates for the PostgreSQL and S3 servers from it, the database
# password, the connection string and the link key mugai's instances share. Run by the
# "init" service; does nothing when the secrets already exist.
set -eu
cd "${SECRETS_DIR:-/secrets}"
if [ -f done ]; then
    exit 0
fi
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=mugai compose CA" -keyout ca.key -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
for host in postgres s3; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$host" \
        -keyout "$host.key" -out "$host.csr"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' \
        "$host" > "$host.ext"
    openssl x509 -req -in "$host.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
        -extfile "$host.ext" -out "$host.crt"
    rm "$host.csr" "$host.ext"
done
password=$(openssl rand -hex 24)
printf '%s' "$password" > postgres_password
printf 'host=postgres port=5432 user=mugai dbname=mugai password=%s' "$password" > postgres_url
openssl rand -hex 32 > link_key
# The certificates are public; the PostgreSQL server (uid 999 in its image) reads its key,
# mugai (uid 65532) the link key and the connection string, moto (root in its image) its key.
chmod 0644 ca.crt postgres.crt s3.crt
chown 999:999 postgres.key postgres_password
chown 65532:65532 link_key postgres_url
touch done
