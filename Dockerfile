# syntax=docker/dockerfile:1
# One image recipe for every binary: SERVICE names it (ingress, forwarder, adeventsx-sim or dlq).
# Build from the repository root:
#   docker build --build-arg SERVICE=forwarder -t eventfwd/forwarder .
# `docker run --rm eventfwd/<service> -h` lists the binary's settings. docker-compose.yml builds
# each service with it. Not exercised by CI (no Docker engine there).

ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
ARG SERVICE
RUN case "${SERVICE}" in ingress|forwarder|adeventsx-sim|dlq) ;; \
      *) echo "SERVICE must be ingress, forwarder, adeventsx-sim or dlq, not '${SERVICE}'" >&2; exit 1;; esac
# go.work says go 1.26.8: let an older 1.26.x image fetch that toolchain instead of failing.
# GOWORK=off: the service's own module (its go.mod replaces libs with ../../libs) is all a build
# needs, so the image does not depend on the workspace's other modules.
ENV GOTOOLCHAIN=auto CGO_ENABLED=0 GOWORK=off
WORKDIR /src
# Module files first, so the download layer is reused until a dependency changes.
COPY libs/go.mod libs/go.sum libs/
COPY services/${SERVICE}/go.mod services/${SERVICE}/go.sum services/${SERVICE}/
RUN cd services/${SERVICE} && go mod download
COPY libs/ libs/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN cd services/${SERVICE} && go build -trimpath -ldflags='-s -w' -o /out/service .

# Static binary on distroless: no shell, no package manager, runs as uid 65532 (nonroot).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/service /service
USER nonroot:nonroot
# The simulator and the forwarder's admin server bind 127.0.0.1 by default, unreachable from
# outside a container: listen on every interface here. Each binary reads only its own variable.
# Ports: ingress 8080, forwarder admin 8081, simulator 8090 (docker-compose.yml maps them). The
# ingress's admin listener (/healthz, /readyz, /metrics) stays on 127.0.0.1:8082 unless
# INGRESS_ADMIN_ADDR says otherwise (docker-compose.yml sets :8082).
ENV INGRESS_ADDR=:8080 FORWARDER_ADMIN_ADDR=0.0.0.0:8081 SIM_ADDR=0.0.0.0:8090
ENTRYPOINT ["/service"]
