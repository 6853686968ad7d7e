// Command mkimage writes the real node's container images as OCI image layout
// tarballs, which `ctr images import` loads into containerd: nothing is pulled.
//
//	mkimage -pause BIN -busybox BIN -out DIR
//
// writes DIR/pause.tar (localhost/kubedx/pause:3.10.2: the Kubernetes pause
// program, statically linked, as its only file, run as 65535 like the upstream
// image) and DIR/testbox.tar with two images of one layer: busybox-static's
// userland (every applet as a link to /bin/busybox, a passwd file, /tmp) plus
// /bin/not-an-executable (a script without "#!": execve fails with ENOEXEC):
//
//   - localhost/kubedx/testbox:1      Cmd ["sh"], like the busybox image;
//   - localhost/kubedx/testbox:nocmd  no Entrypoint and no Cmd at all (a Pod that
//     gives no command cannot be created from it);
//   - localhost/kubedx/web:1          Cmd httpd on port 8080 serving /var/www: the
//     image the plane pushes to its registry (kubedx/web:1, private/web:1). It is
//     another image (another config digest) than testbox:1 on purpose: a kubelet
//     that pulled an image under one name verifies it again before it runs it
//     under another (KubeletEnsureSecretPulledImages), and localhost/... cannot
//     be pulled.
//
// The output is deterministic: fixed timestamps and owners, sorted entries.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// epoch is every file's mtime and the images' creation time.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type blob struct {
	mediaType string
	data      []byte
}

func (b blob) digest() string {
	sum := sha256.Sum256(b.data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (b blob) descriptor() map[string]any {
	return map[string]any{"mediaType": b.mediaType, "digest": b.digest(), "size": len(b.data)}
}

type file struct {
	name     string // path without leading slash
	mode     int64
	typ      byte
	linkname string
	data     []byte
}

// layer returns a gzip-compressed tar of files, and the digest of the uncompressed tar (the diff id).
func layer(files []file) (blob, string, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Typeflag: f.typ, Linkname: f.linkname, ModTime: epoch, Format: tar.FormatPAX}
		if f.typ == tar.TypeReg {
			hdr.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return blob{}, "", err
		}
		if f.typ == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return blob{}, "", err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return blob{}, "", err
	}
	diff := sha256.Sum256(raw.Bytes())
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return blob{}, "", err
	}
	zw.ModTime = epoch
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return blob{}, "", err
	}
	if err := zw.Close(); err != nil {
		return blob{}, "", err
	}
	return blob{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", data: gz.Bytes()}, "sha256:" + hex.EncodeToString(diff[:]), nil
}

func jsonBlob(mediaType string, v any) (blob, error) {
	b, err := json.Marshal(v)
	return blob{mediaType: mediaType, data: b}, err
}

type image struct {
	name   string // full reference, e.g. localhost/kubedx/testbox:1
	config map[string]any
}

// archive writes an OCI image layout tarball holding images that share one layer.
func archive(path string, lay blob, diffID string, images []image) error {
	blobs := map[string]blob{lay.digest(): lay}
	var manifests []map[string]any
	for _, img := range images {
		cfg, err := jsonBlob("application/vnd.oci.image.config.v1+json", map[string]any{
			"created":      epoch.Format(time.RFC3339),
			"architecture": runtime.GOARCH,
			"os":           "linux",
			"config":       img.config,
			"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
			"history":      []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "kubedx tests/cluster/cmd/mkimage"}},
		})
		if err != nil {
			return err
		}
		man, err := jsonBlob("application/vnd.oci.image.manifest.v1+json", map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.image.manifest.v1+json",
			"config":        cfg.descriptor(),
			"layers":        []any{lay.descriptor()},
		})
		if err != nil {
			return err
		}
		blobs[cfg.digest()] = cfg
		blobs[man.digest()] = man
		desc := man.descriptor()
		tag := img.name[strings.LastIndex(img.name, ":")+1:]
		desc["annotations"] = map[string]string{
			"io.containerd.image.name":          img.name,
			"org.opencontainers.image.ref.name": tag,
		}
		desc["platform"] = map[string]string{"architecture": runtime.GOARCH, "os": "linux"}
		manifests = append(manifests, desc)
	}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})
	if err != nil {
		return err
	}
	files := []file{
		{name: "oci-layout", mode: 0o644, typ: tar.TypeReg, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", mode: 0o644, typ: tar.TypeReg, data: index},
		{name: "blobs/", mode: 0o755, typ: tar.TypeDir},
		{name: "blobs/sha256/", mode: 0o755, typ: tar.TypeDir},
	}
	for digest, b := range blobs {
		files = append(files, file{name: "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:"), mode: 0o644, typ: tar.TypeReg, data: b.data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Typeflag: f.typ, ModTime: epoch, Format: tar.FormatPAX}
		if f.typ == tar.TypeReg {
			hdr.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if f.typ == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func dirs(names ...string) []file {
	var out []file
	for _, n := range names {
		out = append(out, file{name: n + "/", mode: 0o755, typ: tar.TypeDir})
	}
	return out
}

const path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func main() {
	pause := flag.String("pause", "", "the statically linked pause program")
	busybox := flag.String("busybox", "/usr/bin/busybox", "a statically linked busybox")
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if *pause == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: mkimage -pause BIN -busybox BIN -out DIR")
		os.Exit(2)
	}
	if err := run(*pause, *busybox, *out); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}

func run(pauseBin, busyboxBin, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	pauseData, err := os.ReadFile(pauseBin)
	if err != nil {
		return err
	}
	lay, diff, err := layer([]file{{name: "pause", mode: 0o755, typ: tar.TypeReg, data: pauseData}})
	if err != nil {
		return err
	}
	if err := archive(filepath.Join(out, "pause.tar"), lay, diff, []image{{
		name:   "localhost/kubedx/pause:3.10.2",
		config: map[string]any{"Entrypoint": []string{"/pause"}, "User": "65535:65535", "Env": []string{path}},
	}}); err != nil {
		return err
	}

	bb, err := os.ReadFile(busyboxBin)
	if err != nil {
		return err
	}
	list, err := exec.Command(busyboxBin, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", busyboxBin, err)
	}
	files := dirs("bin", "etc", "root", "tmp", "usr", "usr/bin", "var", "var/www")
	files = append(files,
		file{name: "bin/busybox", mode: 0o755, typ: tar.TypeReg, data: bb},
		file{name: "bin/not-an-executable", mode: 0o755, typ: tar.TypeReg, data: []byte("echo this file has no interpreter line\n")},
		file{name: "etc/passwd", mode: 0o644, typ: tar.TypeReg, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		file{name: "etc/group", mode: 0o644, typ: tar.TypeReg, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		file{name: "var/www/index.html", mode: 0o644, typ: tar.TypeReg, data: []byte("kubedx testbox\n")},
	)
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		files = append(files, file{name: "bin/" + applet, mode: 0o777, typ: tar.TypeSymlink, linkname: "busybox"})
	}
	for i := range files {
		if files[i].name == "tmp/" {
			files[i].mode = 0o1777
		}
	}
	lay, diff, err = layer(files)
	if err != nil {
		return err
	}
	return archive(filepath.Join(out, "testbox.tar"), lay, diff, []image{
		{name: "localhost/kubedx/testbox:1", config: map[string]any{"Cmd": []string{"sh"}, "Env": []string{path}}},
		{name: "localhost/kubedx/testbox:nocmd", config: map[string]any{"Env": []string{path}}},
		{name: "localhost/kubedx/web:1", config: map[string]any{
			"Cmd": []string{"httpd", "-f", "-p", "8080", "-h", "/var/www"}, "Env": []string{path},
			"ExposedPorts": map[string]any{"8080/tcp": map[string]any{}},
		}},
	})
}
