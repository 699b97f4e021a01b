// Command image builds Herald's container image without a Docker daemon:
// an OCI image index for linux/amd64 and linux/arm64, written as an OCI
// image layout in one tar file (an "oci-archive"), with
// github.com/google/go-containerregistry. It is its own module so that
// dependency stays out of Herald's go.mod.
//
// Each platform's image is two layers on nothing: a base layer with
// /etc/passwd and /etc/group naming the non-root user herald (65532:65532)
// and the CA certificates of the build machine (for OTLP exporters over
// TLS), shared by both platforms; and the static herald binary at
// /usr/local/bin/herald. The config runs the binary as 65532:65532 with it
// as the entrypoint, so `herald controller` is the image with the argument
// "controller". Every file has a fixed owner and the given modification
// time, so the same binaries and -created give the same digests.
//
// Before packing, each binary must be a static ELF executable for its
// platform's machine (no interpreter, no dynamic section); a cgo build or a
// binary for the wrong architecture is refused.
//
//	go run . -out ../../bin/herald-image.tar -version v0.1.0 -revision abc123 -created 1700000000 \
//	  -binary linux/amd64=../../bin/linux-amd64/herald -binary linux/arm64=../../bin/linux-arm64/herald
//	go run . -inspect ../../bin/herald-image.tar
//
// -inspect reads an archive back, checks what the build promises (one
// image per platform, a non-root user, the entrypoint, a static binary for
// the right machine in the top layer) and prints a summary.
package main
