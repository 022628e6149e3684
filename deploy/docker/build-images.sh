#!/bin/sh
# Builds the images of the compose file from static binaries built here:
#   cofswitch:VERSION and cofswitch:latest  (Dockerfile at the top level)
#   nats:X.Y.Z                             (deploy/docker/nats-server.Dockerfile,
#                                           the nats-server module of go.mod)
# Run from anywhere; needs Go and a Docker daemon, no registry.
# VERSION is `git describe` of the checkout, or "dev".
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
ctx="$root/dist/docker"
rm -rf "$ctx" && mkdir -p "$ctx"

version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
nats_version="$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)"
nats_tag="${nats_version#v}"

echo "building cofswitch $version and nats-server $nats_version (static, CGO_ENABLED=0)"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$ctx/cofswitch" ./cmd/cofswitch
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/nats-server" github.com/nats-io/nats-server/v2

cp /etc/ssl/certs/ca-certificates.crt "$ctx/" 2>/dev/null || : > "$ctx/ca-certificates.crt"
mkdir -p "$ctx/empty"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n' > "$ctx/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$ctx/group"

docker build --quiet -f Dockerfile -t "cofswitch:$version" -t cofswitch:latest "$ctx"
docker build --quiet -f deploy/docker/nats-server.Dockerfile -t "nats:$nats_tag" "$ctx"
echo "images: cofswitch:$version cofswitch:latest nats:$nats_tag"
