package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image, and who runs it.
const (
	binaryPath = "/usr/local/bin/herald"
	userName   = "herald"
	uid        = 65532
	// certsPath is where Go's crypto/x509 looks first on Linux.
	certsPath = "/etc/ssl/certs/ca-certificates.crt"
)

// user is the config's User: numeric, so a runtime can tell it is not
// root without reading /etc/passwd (runAsNonRoot needs that).
var user = fmt.Sprintf("%d:%d", uid, uid)

// machines are the ELF machines of the platforms the image is built for.
var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// platformBinary is one platform's herald binary.
type platformBinary struct {
	OS, Arch string
	Path     string
}

func (p platformBinary) String() string { return p.OS + "/" + p.Arch }

// buildOptions say what goes into the image.
type buildOptions struct {
	Binaries []platformBinary
	// Version names the image in the archive (org.opencontainers.image.ref.name)
	// and in its labels; Revision is the source commit.
	Version, Revision string
	// Created is every file's modification time and the images' creation
	// time: the same inputs give the same digests.
	Created time.Time
	// CACerts, if not empty, is a CA bundle copied to certsPath.
	CACerts string
	// Source is the repository URL in the labels.
	Source string
	// user overrides the config's User (tests of -inspect only).
	user string
}

// build writes the OCI archive to out.
func build(out string, o buildOptions) error {
	if len(o.Binaries) == 0 {
		return errors.New("no -binary given")
	}
	if o.Version == "" {
		return errors.New("-version is required")
	}
	var certs []byte
	if o.CACerts != "" {
		var err error
		if certs, err = os.ReadFile(o.CACerts); err != nil {
			return err
		}
	}
	base, err := layerOf(baseFiles(certs), o.Created)
	if err != nil {
		return err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	for _, b := range o.Binaries {
		if seen[b.String()] {
			return fmt.Errorf("two binaries for %s", b)
		}
		seen[b.String()] = true
		bin, err := os.ReadFile(b.Path)
		if err != nil {
			return err
		}
		if err := checkStatic(bin, b.OS, b.Arch); err != nil {
			return fmt.Errorf("%s (%s): %w", b.Path, b, err)
		}
		top, err := layerOf([]file{{path: "usr/", dir: true}, {path: "usr/local/", dir: true},
			{path: "usr/local/bin/", dir: true}, {path: strings.TrimPrefix(binaryPath, "/"), mode: 0o755, data: bin}}, o.Created)
		if err != nil {
			return err
		}
		img, err := platformImage(b, base, top, o)
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: b.OS, Architecture: b.Arch}}})
	}
	return writeArchive(out, idx, o)
}

func platformImage(b platformBinary, base, top v1.Layer, o buildOptions) (v1.Image, error) {
	u := user
	if o.user != "" {
		u = o.user
	}
	labels := map[string]string{
		"org.opencontainers.image.title":    "herald",
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Revision,
		"org.opencontainers.image.created":  o.Created.UTC().Format(time.RFC3339),
	}
	if o.Source != "" {
		labels["org.opencontainers.image.source"] = o.Source
	}
	cfg := &v1.ConfigFile{
		Architecture: b.Arch,
		OS:           b.OS,
		Created:      v1.Time{Time: o.Created},
		Config: v1.Config{
			User:       u,
			Entrypoint: []string{binaryPath},
			WorkingDir: "/",
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			Labels:     labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{Created: v1.Time{Time: o.Created},
			CreatedBy: "hack/image: the user " + userName + " and the CA certificates", Comment: "base"}},
		mutate.Addendum{Layer: top, MediaType: types.OCILayer, History: v1.History{Created: v1.Time{Time: o.Created},
			CreatedBy: "hack/image: " + binaryPath + " for " + b.String()}},
	)
}

// file is one entry of a layer; a path ending in / is a directory.
type file struct {
	path string
	dir  bool
	mode int64
	data []byte
}

func baseFiles(certs []byte) []file {
	files := []file{
		{path: "etc/", dir: true},
		{path: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil,
			"root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/:/sbin/nologin\n", userName, uid, uid, userName)},
		{path: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\n%s:x:%d:\n", userName, uid)},
	}
	if certs != nil {
		files = append(files, file{path: "etc/ssl/", dir: true}, file{path: "etc/ssl/certs/", dir: true},
			file{path: strings.TrimPrefix(certsPath, "/"), mode: 0o644, data: certs})
	}
	return files
}

// layerOf makes a gzipped OCI layer of files, owned by root, all with the
// same modification time.
func layerOf(files []file, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.path, ModTime: mtime.Truncate(time.Second), Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, f.mode, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// checkStatic refuses anything but a static ELF executable for goos/arch.
func checkStatic(bin []byte, goos, arch string) error {
	if goos != "linux" {
		return fmt.Errorf("only linux images are built, not %s", goos)
	}
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("no ELF machine known for %s", arch)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF file: %w", err)
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("built for %s, not %s (%s)", f.Machine, want, arch)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("not an executable (%s)", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("dynamically linked (%s): build with CGO_ENABLED=0", p.Type)
		}
	}
	return nil
}

// writeArchive writes idx as an OCI image layout, tagged with the version,
// into one tar file whose entries are in a fixed order with fixed times.
func writeArchive(out string, idx v1.ImageIndex, o buildOptions) error {
	dir, err := os.MkdirTemp("", "herald-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.Version,
	})); err != nil {
		return err
	}
	var paths []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		paths = append(paths, path)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, path := range paths {
		rel, _ := filepath.Rel(dir, path)
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: o.Created.Truncate(time.Second), Format: tar.FormatPAX}
		if st.IsDir() {
			h.Name += "/"
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, st.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !st.IsDir() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// imageSummary is what -inspect found for one platform.
type imageSummary struct {
	Platform   string
	Digest     string
	User       string
	Entrypoint []string
	Layers     []layerSummary
}

type layerSummary struct {
	Digest string
	// Files maps each path to its mode.
	Files map[string]fs.FileMode
}

// inspect reads an archive written by build and checks what build
// promises: a tagged index with one image per platform, each run as a
// non-root numeric user with herald as its entrypoint, made of a base layer
// that names that user and a top layer holding a static binary for the
// platform's machine.
func inspect(path string) (ref string, images []imageSummary, err error) {
	dir, err := os.MkdirTemp("", "herald-image-inspect-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)
	if err := untar(path, dir); err != nil {
		return "", nil, err
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return "", nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		return "", nil, err
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].MediaType != types.OCIImageIndex {
		return "", nil, fmt.Errorf("index.json holds %d descriptors, want one image index", len(tm.Manifests))
	}
	ref = tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
	if ref == "" {
		return "", nil, errors.New("the image index has no org.opencontainers.image.ref.name")
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		return "", nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return "", nil, err
	}
	for _, d := range im.Manifests {
		s, err := inspectImage(idx, d)
		if err != nil {
			return "", nil, err
		}
		images = append(images, s)
	}
	if len(images) == 0 {
		return "", nil, errors.New("the image index lists no image")
	}
	return ref, images, nil
}

func inspectImage(idx v1.ImageIndex, d v1.Descriptor) (imageSummary, error) {
	s := imageSummary{Digest: d.Digest.String()}
	if d.Platform == nil {
		return s, fmt.Errorf("image %s has no platform", d.Digest)
	}
	s.Platform = d.Platform.OS + "/" + d.Platform.Architecture
	fail := func(format string, args ...any) (imageSummary, error) {
		return s, fmt.Errorf("%s: %s", s.Platform, fmt.Sprintf(format, args...))
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return fail("%v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fail("%v", err)
	}
	if cfg.OS != d.Platform.OS || cfg.Architecture != d.Platform.Architecture {
		return fail("config says %s/%s", cfg.OS, cfg.Architecture)
	}
	s.User, s.Entrypoint = cfg.Config.User, cfg.Config.Entrypoint
	if !nonRoot(s.User) {
		return fail("runs as %q, want a numeric non-root user", s.User)
	}
	if len(s.Entrypoint) != 1 || s.Entrypoint[0] != binaryPath {
		return fail("entrypoint %q, want [%s]", s.Entrypoint, binaryPath)
	}
	layers, err := img.Layers()
	if err != nil {
		return fail("%v", err)
	}
	if len(layers) != 2 {
		return fail("%d layers, want 2 (base, binary)", len(layers))
	}
	var contents []map[string][]byte
	for _, l := range layers {
		dg, err := l.Digest()
		if err != nil {
			return fail("%v", err)
		}
		ls := layerSummary{Digest: dg.String(), Files: map[string]fs.FileMode{}}
		data := map[string][]byte{}
		rc, err := l.Uncompressed()
		if err != nil {
			return fail("%v", err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rc.Close()
				return fail("layer %s: %v", dg, err)
			}
			if h.Uid != 0 || h.Gid != 0 {
				rc.Close()
				return fail("layer %s: %s is owned by %d:%d, want root", dg, h.Name, h.Uid, h.Gid)
			}
			ls.Files["/"+strings.TrimSuffix(h.Name, "/")] = h.FileInfo().Mode()
			if h.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(tr)
				if err != nil {
					rc.Close()
					return fail("%v", err)
				}
				data["/"+h.Name] = b
			}
		}
		rc.Close()
		s.Layers = append(s.Layers, ls)
		contents = append(contents, data)
	}
	passwd := string(contents[0]["/etc/passwd"])
	if !strings.Contains(passwd, fmt.Sprintf(":x:%d:%d:", uid, uid)) {
		return fail("the base layer's /etc/passwd does not name uid %d:\n%s", uid, passwd)
	}
	bin, ok := contents[1][binaryPath]
	if !ok {
		return fail("the top layer has no %s", binaryPath)
	}
	if m := s.Layers[1].Files[binaryPath]; m.Perm()&0o111 == 0 || !m.IsRegular() {
		return fail("%s has mode %s, want an executable file", binaryPath, m)
	}
	if err := checkStatic(bin, d.Platform.OS, d.Platform.Architecture); err != nil {
		return fail("%s: %v", binaryPath, err)
	}
	return s, nil
}

// nonRoot reports whether a config's User is a numeric uid (and optional
// gid) other than 0.
func nonRoot(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	n, err := strconv.Atoi(name)
	return err == nil && n > 0
}

// untar extracts regular files and directories, refusing any path that
// would leave dir.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("%s: entry %q leaves the archive", path, h.Name)
		}
		target := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: entry %q of type %c", path, h.Name, h.Typeflag)
		}
	}
}
