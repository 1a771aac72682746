# syntax=docker/dockerfile:1

# keysmith: one static binary for every role (serve, worker, migrate, keygen,
# verify, hash-password); docker-compose.yml picks the role with `command:`.

##### build #####
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /keysmith ./cmd/keysmith

##### runtime #####
# Alpine rather than distroless so the API's healthcheck can use busybox wget.
FROM alpine:3.23
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 keysmith \
 && adduser -S -D -H -u 10001 -G keysmith -h /var/lib/keysmith keysmith \
 && mkdir -p /etc/keysmith/keys /var/lib/keysmith/outbox \
 && chown -R 10001:10001 /var/lib/keysmith
COPY --from=build /keysmith /usr/local/bin/keysmith

# Where docker-compose.yml mounts things. The outbox directory exists in the
# image, owned by the keysmith user, so a fresh named volume mounted there
# starts out writable by it.
ENV KEYSMITH_CONFIG=/etc/keysmith/keysmith.yaml \
    KEYSMITH_KEYS_DIR=/etc/keysmith/keys \
    KEYSMITH_OUTBOX=/var/lib/keysmith/outbox \
    KEYSMITH_LISTEN=:8080

USER 10001:10001
WORKDIR /var/lib/keysmith
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/keysmith"]
CMD ["serve"]
