package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	serviceCIDR = "10.96.0.0/16"
	podCIDR     = "10.244.0.0/16"
	// advertiseAddress is what the apiserver publishes in the default/kubernetes
	// EndpointSlice (which refuses loopback addresses). Nothing ever dials it.
	advertiseAddress = "172.18.0.1"
	saIssuer         = "https://kubernetes.default.svc.cluster.local"
)

//go:embed manifests.yaml
var manifests []byte

//go:embed kwok.yaml
var kwokConfig []byte

//go:embed audit-policy.yaml
var auditPolicy []byte

type component struct {
	name    string
	program string
	cmd     *exec.Cmd
	log     string
	done    chan struct{}
	err     error
	// how it was started, to start it again
	env  []string
	args []string
	// deliberate is set (under supervisor.mu) before a requested stop: its exit is
	// then expected, not a failure.
	deliberate bool
}

type supervisor struct {
	dir   string
	bin   string
	mu    sync.Mutex
	comps []*component
	// exited receives every component that exits, expectedly or not.
	exited chan *component
	ports  map[string]int
	// Components stopped on request (`testcluster stop`), and when the last one
	// was started again: while an outage is in effect or recent, components that
	// lose the apiserver and exit (leader election lost) are restarted, as a
	// kubelet restarts a static Pod, instead of failing the plane.
	stopped     map[string]bool
	lastRestart time.Time
	server      string
	// realNode is set with --real-node: Node real-1 with a kubelet and containerd.
	realNode *realNode
}

func (s *supervisor) logf(format string, a ...any) {
	fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

func writeState(dir, state string) {
	_ = os.WriteFile(filepath.Join(dir, "state.tmp"), []byte(state+"\n"), 0o644)
	_ = os.Rename(filepath.Join(dir, "state.tmp"), filepath.Join(dir, "state"))
}

func supervise(dir string, owner int, ownerStart string, withRealNode bool) int {
	s := &supervisor{dir: dir, bin: binDir(), exited: make(chan *component, 16), ports: map[string]int{}, stopped: map[string]bool{}}
	if withRealNode {
		s.realNode = &realNode{s: s, ports: map[string]int{}}
	}
	st, err := procStart(os.Getpid())
	if err != nil {
		s.logf("%v", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, "supervisor.pid"), fmt.Appendf(nil, "%d %s\n", os.Getpid(), st), 0o644); err != nil {
		s.logf("%v", err)
		return 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	stopReason := make(chan string, 4)
	go func() {
		sig := <-sigs
		stopReason <- "received " + sig.String()
		cancel()
	}()
	if owner != 0 {
		go func() {
			for {
				if st, err := procStart(owner); err != nil || st != ownerStart {
					stopReason <- fmt.Sprintf("owner process %d exited", owner)
					cancel()
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
		}()
	}

	startErr := make(chan error, 1)
	go func() { startErr <- s.start(ctx) }()

	code := 0
	ready := false
loop:
	for {
		select {
		case err := <-startErr:
			if err != nil {
				if ctx.Err() != nil {
					s.logf("start aborted: %v", err)
					break loop
				}
				s.logf("start failed: %v", err)
				writeState(dir, "failed: "+err.Error())
				code = 1
				break loop
			}
			ready = true
			if err := s.serveControl(ctx); err != nil {
				s.logf("control socket: %v", err)
				writeState(dir, "failed: control socket: "+err.Error())
				code = 1
				break loop
			}
			writeState(dir, "ready")
			s.logf("plane ready")
		case c := <-s.exited:
			if s.expectedExit(ctx, c) {
				continue
			}
			msg := fmt.Sprintf("%s exited unexpectedly (%v); last lines of %s:\n%s", c.name, c.err, c.log, tail(c.log, 30))
			s.logf("%s", msg)
			writeState(dir, "failed: "+msg)
			code = 1
			break loop
		case <-ctx.Done():
			s.logf("stopping: %s", <-stopReason)
			break loop
		}
	}
	cancel()
	s.stopAll()
	if s.realNode != nil {
		if err := cleanupRealNode(dir); err != nil {
			s.logf("%v", err)
			if code == 0 {
				writeState(dir, "failed: "+err.Error())
				code = 1
			}
		} else {
			s.logf("real node cleaned up")
		}
	}
	if ready && code == 0 {
		writeState(dir, "stopped")
	}
	_ = os.Remove(filepath.Join(dir, "supervisor.pid"))
	s.logf("all components stopped")
	return code
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *supervisor) path(p ...string) string { return filepath.Join(append([]string{s.dir}, p...)...) }

// spawn starts a component with its output in DIR/logs/NAME.log. Components
// stay in the supervisor's process group and die with it (Pdeathsig).
func (s *supervisor) spawn(name string, env []string, args ...string) (*component, error) {
	return s.spawnPath(name, filepath.Join(s.bin, name), env, args...)
}

// spawnPath is spawn with the program's path (a component not built into bin/).
func (s *supervisor) spawnPath(name, program string, env []string, args ...string) (*component, error) {
	log := s.path("logs", name+".log")
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.logf("starting %s %s", name, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &component{name: name, program: program, cmd: cmd, log: log, done: make(chan struct{}), env: env, args: args}
	if st, err := procStart(cmd.Process.Pid); err == nil {
		pf, err := os.OpenFile(s.path("pids"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			_, _ = fmt.Fprintf(pf, "%s %d %s\n", name, cmd.Process.Pid, st)
			_ = pf.Close()
		}
	}
	s.mu.Lock()
	s.comps = append(s.comps, c)
	s.mu.Unlock()
	go func() {
		c.err = cmd.Wait()
		_ = f.Close()
		close(c.done)
		s.exited <- c
	}()
	return c, nil
}

// stopAll stops components in reverse start order: SIGTERM, then SIGKILL after a grace period.
func (s *supervisor) stopAll() {
	if s.realNode != nil {
		// The kubelet first, then the containers while containerd still runs.
		s.realNode.stopPods()
	}
	s.mu.Lock()
	comps := append([]*component(nil), s.comps...)
	s.mu.Unlock()
	// Everything but etcd at once, then etcd (the apiserver wants it while shutting down).
	var first, last []*component
	for _, c := range comps {
		if c.name == "etcd" {
			last = append(last, c)
		} else {
			first = append(first, c)
		}
	}
	for _, group := range [][]*component{first, last} {
		for _, c := range group {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range group {
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				s.logf("%s did not stop in 10s: killing it", c.name)
				_ = c.cmd.Process.Kill()
				<-c.done
			}
		}
	}
}

// waitFor polls check until it returns nil, a component exits, ctx ends or the timeout passes.
func (s *supervisor) waitFor(ctx context.Context, what string, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = check(); last == nil {
			s.logf("%s: ok", what)
			return nil
		}
		s.mu.Lock()
		for _, c := range s.comps {
			select {
			case <-c.done:
				s.mu.Unlock()
				return fmt.Errorf("%s exited (%v) while waiting for %s; last lines of %s:\n%s", c.name, c.err, what, c.log, tail(c.log, 30))
			default:
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s: %v", timeout, what, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (s *supervisor) adminClient() (*http.Client, error) {
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(s.path("pki", "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.X509KeyPair(mustRead(s.path("pki", "admin.crt")), mustRead(s.path("pki", "admin.key")))
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

func mustRead(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}

func get(c *http.Client, url string) ([]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return body, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func (s *supervisor) start(ctx context.Context) error {
	for _, name := range []string{"etcd-client", "etcd-peer", "apiserver", "controller-manager", "scheduler"} {
		p, err := freePort()
		if err != nil {
			return err
		}
		s.ports[name] = p
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", s.ports["apiserver"])
	s.server = server
	if err := writePKI(s.dir, server); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	for name, data := range map[string][]byte{"audit-policy.yaml": auditPolicy, "kwok.yaml": kwokConfig, "manifests.yaml": manifests} {
		if err := os.WriteFile(s.path(name), data, 0o644); err != nil {
			return err
		}
	}
	env := fmt.Sprintf("APISERVER=%s\nETCD=http://127.0.0.1:%d\nKUBECONFIG=%s\n", server, s.ports["etcd-client"], s.path("kubeconfig"))
	if err := os.WriteFile(s.path("cluster.env"), []byte(env), 0o644); err != nil {
		return err
	}
	nodes := 4
	if s.realNode != nil {
		nodes++
		if err := s.realNode.acquireLock(); err != nil {
			return err
		}
		if err := s.realNode.prepare(); err != nil {
			return fmt.Errorf("real node: %w", err)
		}
		// containerd and the registry need no apiserver: they start first.
		if err := s.realNode.startRuntime(ctx); err != nil {
			return fmt.Errorf("real node: %w", err)
		}
	}

	// etcd
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", s.ports["etcd-client"])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", s.ports["etcd-peer"])
	if _, err := s.spawn("etcd", nil,
		"--name=kubedx",
		"--data-dir="+s.path("etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubedx="+peerURL,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync=true", // a disposable test store: durability is not wanted, speed is
		"--snapshot-count=10000",
		"--quota-backend-bytes=2147483648",
		"--log-level=warn",
	); err != nil {
		return err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := s.waitFor(ctx, "etcd health", 60*time.Second, func() error {
		b, err := get(plain, etcdURL+"/health")
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), `"health":"true"`) {
			return fmt.Errorf("etcd health: %s", b)
		}
		return nil
	}); err != nil {
		return err
	}

	// kube-apiserver
	pki := func(f string) string { return s.path("pki", f) }
	if _, err := s.spawn("kube-apiserver", nil,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.ports["apiserver"]),
		"--advertise-address="+advertiseAddress,
		"--cert-dir="+s.path("pki", "apiserver-generated"),
		"--tls-cert-file="+pki("apiserver.crt"),
		"--tls-private-key-file="+pki("apiserver.key"),
		"--client-ca-file="+pki("ca.crt"),
		"--kubelet-client-certificate="+pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+pki("apiserver-kubelet-client.key"),
		// Never resolve Node hostnames: logs/exec dial the (loopback) InternalIP and fail there.
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-key-file="+pki("sa.pub"),
		"--service-account-signing-key-file="+pki("sa.key"),
		"--service-account-issuer="+saIssuer,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range="+serviceCIDR,
		"--allow-privileged=true",
		"--audit-policy-file="+s.path("audit-policy.yaml"),
		"--audit-log-path="+s.path("audit.log"),
		"--audit-log-mode=blocking",
		"--audit-log-maxbackup=1",
		"--audit-log-maxsize=512",
		"--profiling=false",
		"--v=1",
	); err != nil {
		return err
	}
	admin, err := s.adminClient()
	if err != nil {
		return err
	}
	if err := s.waitFor(ctx, "kube-apiserver /readyz", 120*time.Second, func() error {
		_, err := get(admin, server+"/readyz")
		return err
	}); err != nil {
		return err
	}
	if err := s.waitFor(ctx, "namespace kube-system", 60*time.Second, func() error {
		_, err := get(admin, server+"/api/v1/namespaces/kube-system")
		return err
	}); err != nil {
		return err
	}

	// kube-controller-manager and kube-scheduler
	if _, err := s.spawn("kube-controller-manager", nil,
		"--kubeconfig="+s.path("controller-manager.kubeconfig"),
		"--authentication-kubeconfig="+s.path("controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+s.path("controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.ports["controller-manager"]),
		"--cert-dir="+s.path("pki", "controller-manager-generated"),
		"--client-ca-file="+pki("ca.crt"),
		"--cluster-name=kubedx",
		"--controllers=*,-node-ipam-controller",
		// Ride out a deliberate apiserver/etcd outage of a minute (testcluster stop/start)
		// instead of exiting on a lost leader election.
		"--leader-elect-lease-duration=90s",
		"--leader-elect-renew-deadline=75s",
		// kwok cannot renew the Node Leases while the plane is stopped, and it resumes
		// only some seconds after it is back: with the default grace (50 s) a 30 s
		// outage can make the node lifecycle controller mark every Node Unknown and
		// its Pods (CoreDNS too) NotReady — a second fault the outage tests do not ask for.
		"--node-monitor-grace-period=120s",
		"--allocate-node-cidrs=false",
		"--service-cluster-ip-range="+serviceCIDR,
		"--use-service-account-credentials=true",
		"--root-ca-file="+pki("ca.crt"),
		"--service-account-private-key-file="+pki("sa.key"),
		"--cluster-signing-cert-file="+pki("ca.crt"),
		"--cluster-signing-key-file="+pki("ca.key"),
		"--profiling=false",
	); err != nil {
		return err
	}
	if _, err := s.spawn("kube-scheduler", nil,
		"--kubeconfig="+s.path("scheduler.kubeconfig"),
		"--authentication-kubeconfig="+s.path("scheduler.kubeconfig"),
		"--authorization-kubeconfig="+s.path("scheduler.kubeconfig"),
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.ports["scheduler"]),
		"--cert-dir="+s.path("pki", "scheduler-generated"),
		"--leader-elect-lease-duration=90s",
		"--leader-elect-renew-deadline=75s",
		"--client-ca-file="+pki("ca.crt"),
		"--profiling=false",
	); err != nil {
		return err
	}

	// Default contents: Nodes (with the status a kubelet registers), kube-dns, CoreDNS, StorageClass.
	kubectl := exec.Command(filepath.Join(s.bin, "kubectl"), "--kubeconfig="+s.path("kubeconfig"), "create", "-f", s.path("manifests.yaml"))
	if out, err := kubectl.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl create -f %s: %v\n%s", s.path("manifests.yaml"), err, out)
	}
	s.logf("default objects created")

	// kwok plays the kubelets of the Nodes annotated kwok.x-k8s.io/node=fake.
	if _, err := s.spawn("kwok", []string{"KWOK_WORKDIR=" + s.path("kwok-home")},
		"--kubeconfig="+s.path("kwok.kubeconfig"),
		"--config="+s.path("kwok.yaml"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr="+podCIDR,
		"--node-port=0",
		"--server-address=",
	); err != nil {
		return err
	}

	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		// Health probe of a loopback component serving a self-signed certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	for _, c := range []string{"controller-manager", "scheduler"} {
		url := fmt.Sprintf("https://127.0.0.1:%d/healthz", s.ports[c])
		if err := s.waitFor(ctx, "kube-"+c+" /healthz", 90*time.Second, func() error {
			_, err := get(insecure, url)
			return err
		}); err != nil {
			return err
		}
	}
	if s.realNode != nil {
		if err := s.realNode.startKubelet(ctx); err != nil {
			return fmt.Errorf("real node: %w", err)
		}
	}
	if err := s.waitFor(ctx, fmt.Sprintf("%d Nodes Ready", nodes), 120*time.Second, func() error { return nodesReady(admin, server, nodes) }); err != nil {
		return err
	}
	if err := s.waitFor(ctx, "ServiceAccount default/default", 60*time.Second, func() error {
		_, err := get(admin, server+"/api/v1/namespaces/default/serviceaccounts/default")
		return err
	}); err != nil {
		return err
	}
	if err := s.waitFor(ctx, "kube-dns EndpointSlice with 2 ready endpoints", 180*time.Second, func() error {
		return dnsReady(admin, server)
	}); err != nil {
		return err
	}
	return nil
}

func nodesReady(c *http.Client, server string, want int) error {
	b, err := get(c, server+"/api/v1/nodes")
	if err != nil {
		return err
	}
	var list struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Status   struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	ready := 0
	var notReady []string
	for _, n := range list.Items {
		ok := false
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				ok = true
			}
		}
		if ok {
			ready++
		} else {
			notReady = append(notReady, n.Metadata.Name)
		}
	}
	if ready < want {
		return fmt.Errorf("%d of %d Nodes Ready (not ready: %s)", ready, want, strings.Join(notReady, ", "))
	}
	return nil
}

func dnsReady(c *http.Client, server string) error {
	b, err := get(c, server+"/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkube-dns")
	if err != nil {
		return err
	}
	var list struct {
		Items []struct {
			Endpoints []struct {
				Conditions struct {
					Ready *bool `json:"ready"`
				} `json:"conditions"`
			} `json:"endpoints"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	ready := 0
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				ready++
			}
		}
	}
	if ready < 2 {
		return fmt.Errorf("%d ready kube-dns endpoints in %d slices", ready, len(list.Items))
	}
	return nil
}
