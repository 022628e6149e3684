# cofswitch, from a static binary: no shell, no libc, no package manager.
# Built by deploy/docker/build-images.sh, which puts into the build
# context (dist/docker/) the binary (CGO_ENABLED=0) and the host's CA
# certificates; nothing is pulled (FROM scratch), so it builds where no
# registry is reachable.
FROM scratch
COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY cofswitch /usr/local/bin/cofswitch
# 65532 is "nonroot" (passwd, group above). The state of every command
# (a store, a spool, the switch's data) goes under /data, a volume; the
# compose file's shared seeds and configurations under /cluster. Both are
# the user's, so that a fresh named volume mounted there is writable.
COPY --chown=65532:65532 empty/ /data/
COPY --chown=65532:65532 empty/ /cluster/
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/cofswitch"]
CMD ["--help"]
