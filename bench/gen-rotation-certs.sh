#!/usr/bin/env bash
# N client certificates for the rotation soak, signed by the bench CA (gen-certs.sh first):
# "$DIR/certs/rot/NNNN.pem" holds certificate and key, subject CN=rot-NNNN.
set -euo pipefail
N="${1:?how many}"
C="$DIR/certs"
mkdir -p "$C/rot"
cd "$C/rot"
one() {
    local name; name=$(printf '%04d' "$1")
    [ -s "$name.pem" ] && return 0
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key" 2>/dev/null
    openssl req -new -key "$name.key" -subj "/CN=rot-$name" -out "$name.csr"
    openssl x509 -req -in "$name.csr" -CA ../ca.pem -CAkey ../ca.key -set_serial "$((100000 + 10#$name))" -days 30 \
        -sha256 -extfile ../client.ext -out "$name.crt" 2>/dev/null
    cat "$name.crt" "$name.key" > "$name.pem"
    rm -f "$name.csr" "$name.crt" "$name.key"
}
export -f one
seq 0 $((N - 1)) | xargs -P 2 -I{} bash -c 'one {}'
