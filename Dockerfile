# syntax=docker/dockerfile:1
#
# The hookflash image: one static binary on distroless, running as uid 65532.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t hookflash .
#   docker run --rm -p 8080:8080 hookflash            # embedded single node
#   docker run --rm hookflash migrate up              # with HOOKFLASH_DATABASE_URL
#
# The runtime stage has no shell: Kubernetes' preStop uses the built-in
# sleep action (see helm/hookflash).

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so source edits do not refetch them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Set by buildx for multi-platform builds; empty means the builder's own.
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/hookflash ./cmd/hookflash

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hookflash /usr/local/bin/hookflash
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/hookflash"]
CMD ["serve"]
