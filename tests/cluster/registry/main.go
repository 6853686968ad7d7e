// Command registry is the real node's image registry: the CNCF distribution
// registry (github.com/distribution/distribution/v3, pinned in this directory's
// go.mod) serving plain HTTP on a loopback address, with its blobs on the local
// filesystem. Every repository is public except those under one prefix, which
// need basic auth against an htpasswd file (distribution's own htpasswd access
// controller), so that the real node's pulls fail for real: "not found" for a
// missing repository or tag, "unauthorized" for the private prefix.
//
//	registry --addr 127.0.0.1:PORT --root DIR --htpasswd FILE --private-prefix private/
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry"
	"github.com/distribution/distribution/v3/registry/auth"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"golang.org/x/crypto/bcrypt"
)

// privateRepo protects the repositories under one name prefix with the htpasswd
// access controller and lets anonymous requests reach every other repository.
type privateRepo struct {
	prefix   string
	htpasswd auth.AccessController
}

func (p *privateRepo) Authorized(r *http.Request, access ...auth.Access) (*auth.Grant, error) {
	for _, a := range access {
		if a.Type == "repository" && strings.HasPrefix(a.Name, p.prefix) {
			return p.htpasswd.Authorized(r, access...)
		}
	}
	// A private repository's credentials still identify their user elsewhere.
	if _, _, ok := r.BasicAuth(); ok {
		if g, err := p.htpasswd.Authorized(r, access...); err == nil {
			return g, nil
		}
	}
	return &auth.Grant{}, nil
}

func init() {
	err := auth.Register("kubedx-private-prefix", func(options map[string]any) (auth.AccessController, error) {
		prefix, _ := options["prefix"].(string)
		if prefix == "" {
			return nil, fmt.Errorf(`"prefix" must be set`)
		}
		inner, err := auth.GetAccessController("htpasswd", options)
		if err != nil {
			return nil, err
		}
		return &privateRepo{prefix: prefix, htpasswd: inner}, nil
	})
	if err != nil {
		panic(err)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "listen address (loopback)")
	root := flag.String("root", "", "directory of the registry's storage")
	htpasswd := flag.String("htpasswd", "", "htpasswd file (bcrypt) of the private repositories' users")
	prefix := flag.String("private-prefix", "private/", "repositories under this prefix need basic auth")
	user := flag.String("user", "", "USER:PASSWORD: write --htpasswd with this one user (bcrypt) before serving")
	flag.Parse()
	if *root == "" || *htpasswd == "" {
		fmt.Fprintln(os.Stderr, "registry: --root and --htpasswd are required")
		os.Exit(2)
	}
	if *user != "" {
		name, password, ok := strings.Cut(*user, ":")
		if !ok || name == "" || password == "" {
			fmt.Fprintln(os.Stderr, "registry: --user wants USER:PASSWORD")
			os.Exit(2)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			fmt.Fprintf(os.Stderr, "registry: %v\n", err)
			os.Exit(1)
		}
		if err := os.WriteFile(*htpasswd, fmt.Appendf(nil, "%s:%s\n", name, hash), 0o600); err != nil {
			fmt.Fprintf(os.Stderr, "registry: %v\n", err)
			os.Exit(1)
		}
	}
	if _, err := os.Stat(*htpasswd); err != nil {
		// distribution would create one with a random user; a missing file is a setup error here.
		fmt.Fprintf(os.Stderr, "registry: htpasswd file: %v\n", err)
		os.Exit(2)
	}
	// No telemetry export: nothing is sent anywhere.
	_ = os.Setenv("OTEL_SDK_DISABLED", "true")
	_ = os.Setenv("OTEL_TRACES_EXPORTER", "none")

	yaml := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
auth:
  kubedx-private-prefix:
    realm: kubedx-test-registry
    path: %q
    prefix: %q
http:
  addr: %q
  secret: kubedx-test-registry-not-a-secret
`, *root, *htpasswd, *prefix, *addr)
	config, err := configuration.Parse(strings.NewReader(yaml))
	if err != nil {
		fmt.Fprintf(os.Stderr, "registry: configuration: %v\n", err)
		os.Exit(1)
	}
	reg, err := registry.NewRegistry(context.Background(), config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "registry: %v\n", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- reg.ListenAndServe() }()
	select {
	case err := <-served:
		fmt.Fprintf(os.Stderr, "registry: %v\n", err)
		os.Exit(1)
	case <-sigs:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = reg.Shutdown(ctx)
	}
}
