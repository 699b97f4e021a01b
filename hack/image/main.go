package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// binaryFlags collects -binary os/arch=path.
type binaryFlags []platformBinary

func (b *binaryFlags) String() string { return fmt.Sprint(*b) }

func (b *binaryFlags) Set(v string) error {
	plat, path, ok := strings.Cut(v, "=")
	goos, arch, ok2 := strings.Cut(plat, "/")
	if !ok || !ok2 || path == "" {
		return fmt.Errorf("want os/arch=path, got %q", v)
	}
	*b = append(*b, platformBinary{OS: goos, Arch: arch, Path: path})
	return nil
}

func main() {
	var bins binaryFlags
	out := flag.String("out", "", "the OCI archive to write")
	version := flag.String("version", "", "the image's version (its tag in the archive)")
	revision := flag.String("revision", "", "the source commit, for the labels")
	created := flag.Int64("created", 0, "creation time and every file's time, in seconds since 1970 (e.g. the commit's time)")
	certs := flag.String("ca-certs", "", "CA bundle to copy to "+certsPath+" (none when empty)")
	source := flag.String("source", "https://github.com/heraldlb/herald", "repository URL for the labels")
	inspectPath := flag.String("inspect", "", "read this archive back, check it and print a summary")
	flag.Var(&bins, "binary", "os/arch=path of a static herald binary (repeat for each platform)")
	flag.Parse()

	if *inspectPath != "" {
		ref, images, err := inspect(*inspectPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "image:", err)
			os.Exit(1)
		}
		fmt.Printf("%s: %s, %d platforms\n", *inspectPath, ref, len(images))
		for _, im := range images {
			fmt.Printf("  %s %s user %s entrypoint %v\n", im.Platform, im.Digest, im.User, im.Entrypoint)
			for _, l := range im.Layers {
				var files []string
				for f := range l.Files {
					files = append(files, f)
				}
				sort.Strings(files)
				fmt.Printf("    layer %s: %s\n", l.Digest, strings.Join(files, " "))
			}
		}
		return
	}
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	err := build(*out, buildOptions{Binaries: bins, Version: *version, Revision: *revision,
		Created: time.Unix(*created, 0).UTC(), CACerts: *certs, Source: *source})
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("image: %s (%d platforms, version %s, created %s)\n", *out, len(bins), *version, strconv.FormatInt(*created, 10))
}
