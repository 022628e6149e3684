# nats-server, built here from the module cofswitch already depends on (at
# the version go.mod names) into a static binary, and tagged with the
# official image's name and tag (nats:X.Y.Z) by build-images.sh: the
# compose file names the official image, which users elsewhere pull, and
# which is found locally here, where no registry is reachable.
FROM scratch
COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY nats-server /nats-server
# JetStream's store goes under /data, the user's, so that a fresh named
# volume mounted there is writable. (The official image runs as root.)
COPY --chown=65532:65532 empty/ /data/
USER 65532:65532
EXPOSE 4222 6222 8222
ENTRYPOINT ["/nats-server"]
CMD ["--help"]
