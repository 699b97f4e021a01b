# Herald's image for those who build with Docker (BuildKit):
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t herald:dev .
#
# It holds what `make image` builds without a daemon (hack/image): a static
# herald at /usr/local/bin/herald, /etc/passwd and /etc/group naming the
# non-root user herald (65532), the CA certificates, nothing else; run as
# 65532:65532. The chart starts `herald controller` and `herald speaker`
# (the speaker's pod runs it as root with NET_RAW only).
# The build tags are the Makefile's GO_TAGS (see there why).
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -tags grpcnotrace -ldflags "-X main.version=${VERSION} -X main.commit=${COMMIT} -s -w" \
      -o /out/herald ./cmd/herald
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/usr/local/bin \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nherald:x:65532:65532:herald:/:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nherald:x:65532:\n' > /rootfs/etc/group \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && cp /out/herald /rootfs/usr/local/bin/herald

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
WORKDIR /
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENTRYPOINT ["/usr/local/bin/herald"]
