package main

// The real node (`testcluster up DIR --real-node`): Node real-1, a real kubelet
// (built from k8s.io/kubernetes/cmd/kubelet in this module) on Debian's
// containerd, runc and CNI plugins, with locally made images and a local OCI
// registry (cmd "registry", built from github.com/distribution/distribution/v3).
// See tests/cluster/README.md, "The real node".
//
// Everything it creates is either under DIR or recorded under DIR/real-node so
// that cleanupRealNode can undo it, from the supervisor on a normal stop and
// from `down` after a crash: processes (kubelet, containerd, shims, container
// processes), mounts under DIR, the CNI bridge, the node address on lo, the
// iptables chains (its own and the kubelet's), the cgroup subtree, the kernel
// settings the kubelet changes, and the host paths the kubelet and containerd
// insist on (/var/lib/kubelet/device-plugins, /var/log/containers,
// /var/lib/cni, /run/containerd/s).

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	realNodeName = "real-1"
	// realNodeIP is the Node's InternalIP, an address added to lo (the kubelet
	// refuses 127.0.0.0/8), from the benchmarking range 198.18.0.0/15.
	realNodeIP = "198.18.0.2"
	// realNodeNet is the only destination the real node's Pods may reach.
	realNodeNet    = "198.18.0.0/15"
	realPodCIDR    = "198.19.0.0/24"
	realPodGateway = "198.19.0.1"
	realBridge     = "kubedx-cni0"
	// realChain is the iptables chain that rejects Pod traffic leaving 198.18.0.0/15.
	realChain = "KUBEDX-REAL-NODE"
	// realCgroupRoot is the kubelet's --cgroup-root: every Pod cgroup is below it.
	realCgroupRoot = "kubedx-real-node"
	pauseImage     = "localhost/kubedx/pause:3.10.2"
	// The private repositories of the local registry (prefix private/) need these.
	registryUser     = "kubedx"
	registryPassword = "kubedx-test-password"
	// realNodeLock is held by the supervisor of the one real node of this machine;
	// it names that plane's directory (its iptables chains, bridge and lo address
	// are machine-wide).
	realNodeLock = "/run/kubedx-real-node.lock"
)

// hostTools are what the real node runs from Debian's packages.
var hostTools = []struct{ path, pkg string }{
	{"/usr/bin/containerd", "containerd"},
	{"/usr/bin/containerd-shim-runc-v2", "containerd"},
	{"/usr/bin/ctr", "containerd"},
	{"/usr/sbin/runc", "runc"},
	{"/usr/lib/cni/bridge", "containernetworking-plugins"},
	{"/usr/lib/cni/host-local", "containernetworking-plugins"},
	{"/usr/lib/cni/loopback", "containernetworking-plugins"},
	{"/usr/sbin/iptables", "iptables"},
	{"/usr/sbin/ip6tables", "iptables"},
	{"/usr/bin/busybox", "busybox-static"},
	{"/usr/sbin/ip", "iproute2"},
}

// kubeletSysctls are the kernel settings the kubelet sets at start (its
// container manager's setupKernelTunables) and the CNI bridge plugin's
// forwarding; their values before the kubelet started are restored by cleanup.
var kubeletSysctls = []string{
	"kernel/panic",
	"kernel/panic_on_oops",
	"vm/overcommit_memory",
	"vm/panic_on_oom",
	"kernel/keys/root_maxkeys",
	"kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward",
	"net/ipv6/conf/all/forwarding",
}

// hostPaths are created by the kubelet or containerd outside DIR whatever they are
// configured with: removed by cleanup when they did not exist before (only the
// real node's entries otherwise).
var hostPaths = []string{"/var/lib/kubelet", "/var/log/containers", "/var/lib/cni", "/run/containerd"}

// kubeletChains are the chains the kubelet creates (iptables and ip6tables), by table.
var kubeletChains = map[string][]string{
	"filter": {"KUBE-FIREWALL", "KUBE-KUBELET-CANARY"},
	"nat":    {"KUBE-KUBELET-CANARY"},
	"mangle": {"KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"},
}

func realDir(dir string, p ...string) string {
	return filepath.Join(append([]string{dir, "real-node"}, p...)...)
}

func imagesDir() string { return filepath.Join(filepath.Dir(binDir()), "images") }

func containerdSocket(dir string) string { return filepath.Join(dir, "containerd", "containerd.sock") }

// realNodePreflight tells, before anything starts, what the real node lacks on this machine.
func realNodePreflight(dir string) error {
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "it must run as root (it runs containerd and a kubelet, mounts volumes, adds an address to lo, a bridge and iptables rules): run `testcluster up DIR --real-node` as root")
	}
	var missing []string
	pkgs := map[string]bool{}
	for _, t := range hostTools {
		if st, err := os.Stat(t.path); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", t.path, t.pkg))
			pkgs[t.pkg] = true
		}
	}
	if len(missing) > 0 {
		var names []string
		for p := range pkgs {
			names = append(names, p)
		}
		sort.Strings(names)
		problems = append(problems, fmt.Sprintf("missing %s: install them with `tests/cluster/install-real-node-deps` (as root) or `apt-get install -y %s`",
			strings.Join(missing, ", "), strings.Join(names, " ")))
	}
	for _, f := range []string{filepath.Join(binDir(), "kubelet"), filepath.Join(binDir(), "registry"), filepath.Join(imagesDir(), "pause.tar"), filepath.Join(imagesDir(), "testbox.tar")} {
		if _, err := os.Stat(f); err != nil {
			problems = append(problems, fmt.Sprintf("missing %s: run `tests/cluster/testcluster build --real-node`", f))
		}
	}
	if n := len(containerdSocket(dir)) + len(".ttrpc"); n > 100 {
		problems = append(problems, fmt.Sprintf("DIR is too long for containerd's unix sockets (%s is %d bytes, at most 100): use a shorter DIR", containerdSocket(dir)+".ttrpc", n))
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		problems = append(problems, "no /sys/fs/cgroup: the kubelet needs cgroups")
	}
	if len(problems) > 0 {
		return fmt.Errorf("--real-node cannot start on this machine; nothing was started:\n  - %s", strings.Join(problems, "\n  - "))
	}
	if owner := realNodeOwner(); owner != "" && owner != dir {
		if pid, ok := livePid(filepath.Join(owner, "supervisor.pid")); ok {
			return fmt.Errorf("another plane runs the real node of this machine (%s, supervisor pid %d): `testcluster down %s` first; nothing was started", owner, pid, owner)
		}
		// Its supervisor is gone: what it left behind goes now.
		fmt.Fprintf(os.Stderr, "testcluster: cleaning up what the real node of %s left behind\n", owner)
		if err := cleanupRealNode(owner); err != nil {
			return fmt.Errorf("cleaning up the real node left behind by %s: %w", owner, err)
		}
	}
	return nil
}

// realNodeOwner is the directory of the plane that last held the real node, if any.
func realNodeOwner() string {
	b, err := os.ReadFile(realNodeLock)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// realNode is the supervisor's side of the real node.
type realNode struct {
	s        *supervisor
	registry string // 127.0.0.1:PORT
	lock     *os.File
	ports    map[string]int
}

func (r *realNode) path(p ...string) string { return realDir(r.s.dir, p...) }

// acquireLock takes the machine-wide real-node lock for the supervisor's lifetime.
func (r *realNode) acquireLock() error {
	f, err := os.OpenFile(realNodeLock, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return fmt.Errorf("another plane holds the real node (%s names %s)", realNodeLock, realNodeOwner())
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(r.s.dir+"\n"), 0); err != nil {
		return err
	}
	r.lock = f
	return nil
}

// prepare writes the real node's configuration and records the host state that
// cleanup restores. Called before any of its processes starts.
func (r *realNode) prepare() error {
	// Leftovers of an earlier run of this very directory (a crashed supervisor).
	if err := cleanupRealNode(r.s.dir); err != nil {
		return err
	}
	for _, d := range []string{r.path(), r.path("cni", "net.d"), r.path("certs.d"), r.path("registry"), filepath.Join(r.s.dir, "containerd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := recordHostState(r.s.dir); err != nil {
		return err
	}
	for _, name := range []string{"registry", "kubelet", "kubelet-healthz"} {
		p, err := freePort()
		if err != nil {
			return err
		}
		r.ports[name] = p
	}
	r.registry = fmt.Sprintf("127.0.0.1:%d", r.ports["registry"])
	if err := writeRealNodePKI(r.s.dir); err != nil {
		return fmt.Errorf("real node certificates: %w", err)
	}
	dir := r.s.dir
	files := map[string]string{
		r.path("containerd.toml"):                         containerdConfig(dir),
		r.path("cni", "net.d", "10-kubedx-real.conflist"): cniConfig(dir),
		r.path("certs.d", r.registry, "hosts.toml"):       fmt.Sprintf("# the local registry serves plain HTTP on loopback\nserver = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", r.registry, r.registry),
		r.path("kubelet.yaml"):                            kubeletConfig(dir, r.ports["kubelet"], r.ports["kubelet-healthz"]),
		r.path("kubelet.kubeconfig"):                      string(kubeletKubeconfig(dir, r.s.server)),
		// Pods resolve through the plane's kube-dns Service address (nothing answers
		// there); the host's resolvers are never handed to a Pod.
		r.path("resolv.conf"): "nameserver " + realNodeIP + "\n",
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	env, err := os.ReadFile(r.s.path("cluster.env"))
	if err != nil {
		return err
	}
	env = append(env, fmt.Sprintf("REGISTRY=%s\nREGISTRY_USER=%s\nREGISTRY_PASSWORD=%s\nREAL_NODE=%s\nREAL_NODE_IP=%s\n", r.registry, registryUser, registryPassword, realNodeName, realNodeIP)...)
	return os.WriteFile(r.s.path("cluster.env"), env, 0o644)
}

func containerdConfig(dir string) string {
	c := filepath.Join(dir, "containerd")
	return fmt.Sprintf(`# containerd of the real node: everything under the plane's directory.
version = 2
root = %[1]q
state = %[2]q
oom_score = 0

[grpc]
  address = %[3]q

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q

[plugins."io.containerd.grpc.v1.cri"]
  # the local pause image, imported at start: never pulled
  sandbox_image = %[5]q
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails with
  # "can't get final child's PID from pipe: EOF"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = %[6]q
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[7]q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %[8]q
`, filepath.Join(c, "root"), filepath.Join(c, "state"), containerdSocket(dir), filepath.Join(c, "opt"),
		pauseImage, filepath.Join(c, "runc"), realDir(dir, "cni", "net.d"), realDir(dir, "certs.d"))
}

func cniConfig(dir string) string {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "kubedx-real",
		"plugins": []any{map[string]any{
			"type":        "bridge",
			"bridge":      realBridge,
			"isGateway":   true,
			"ipMasq":      false,
			"hairpinMode": true,
			"ipam": map[string]any{
				"type":    "host-local",
				"dataDir": realDir(dir, "cni", "ipam"),
				"ranges":  [][]map[string]string{{{"subnet": realPodCIDR, "gateway": realPodGateway}}},
				// No default route: a Pod reaches 198.18.0.0/15 and nothing else.
				"routes": []map[string]string{{"dst": realNodeNet}},
			},
		}},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return string(b) + "\n"
}

func kubeletConfig(dir string, port, healthzPort int) string {
	pki := func(f string) string { return filepath.Join(dir, "pki", f) }
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# this machine has cgroup v1
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%[1]s
address: %[2]s
port: %[3]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[4]d
tlsCertFile: %[5]q
tlsPrivateKeyFile: %[6]q
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[7]q}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://%[8]s
podLogsDir: %[9]q
registerWithTaints:
- {key: kubedx.io/real-node, value: "true", effect: NoSchedule}
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
resolvConf: %[10]q
failSwapOn: false
# never garbage-collect the imported images (they cannot be pulled again)
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
serializeImagePulls: false
# the ephemeral-storage eviction test waits for this loop
evictionPressureTransitionPeriod: 30s
maxPods: 110
`, realCgroupRoot, realNodeIP, port, healthzPort, pki("kubelet.crt"), pki("kubelet.key"), pki("ca.crt"),
		containerdSocket(dir), realDir(dir, "pod-logs"), realDir(dir, "resolv.conf"))
}

func kubeletKubeconfig(dir, server string) []byte {
	pki := func(f string) string { return filepath.Join(dir, "pki", f) }
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: kubedx
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: kubedx
  context: {cluster: kubedx, user: %s}
current-context: kubedx
`, server, pki("ca.crt"), "system:node:"+realNodeName, pki("kubelet-client.crt"), pki("kubelet-client.key"), "system:node:"+realNodeName)
}

// writeRealNodePKI issues the kubelet's client certificate (system:node:real-1 in
// system:nodes, for the Node authorizer) and its serving certificate, from the plane's CA.
func writeRealNodePKI(dir string) error {
	pki := filepath.Join(dir, "pki")
	ca, err := loadCA(pki)
	if err != nil {
		return err
	}
	client, err := ca.issue(leafSpec{cn: "system:node:" + realNodeName, orgs: []string{"system:nodes"}, client: true})
	if err != nil {
		return err
	}
	if err := client.write(pki, "kubelet-client"); err != nil {
		return err
	}
	serving, err := ca.issue(leafSpec{cn: realNodeName, server: true, dns: []string{realNodeName}, ips: []net.IP{net.ParseIP(realNodeIP)}})
	if err != nil {
		return err
	}
	return serving.write(pki, "kubelet")
}

func loadCA(pki string) (*keyPair, error) {
	certPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(pki, "ca.key"))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("bad CA PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	cs, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key is not a crypto.Signer")
	}
	kp := &keyPair{cert: cert, certPEM: certPEM, keyPEM: keyPEM}
	kp.key = cs
	return kp, nil
}

// startRuntime starts containerd and the registry, imports the images and pushes
// the test image to the registry. Before etcd: none of it needs the apiserver.
func (r *realNode) startRuntime(ctx context.Context) error {
	if _, err := r.s.spawnPath("containerd", "/usr/bin/containerd", nil, "--config", r.path("containerd.toml")); err != nil {
		return err
	}
	sock := containerdSocket(r.s.dir)
	if err := r.s.waitFor(ctx, "containerd", 60*time.Second, func() error {
		_, err := r.ctr("version")
		return err
	}); err != nil {
		return err
	}
	if _, err := r.s.spawn("registry", []string{"OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=none"},
		"--addr", r.registry,
		"--root", r.path("registry", "data"),
		"--htpasswd", r.path("registry", "htpasswd"),
		"--user", registryUser+":"+registryPassword,
		"--private-prefix", "private/",
	); err != nil {
		return err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := r.s.waitFor(ctx, "registry /v2/", 30*time.Second, func() error {
		_, err := get(plain, "http://"+r.registry+"/v2/")
		return err
	}); err != nil {
		return err
	}
	for _, tarball := range []string{"pause.tar", "testbox.tar"} {
		if out, err := r.ctr("images", "import", filepath.Join(imagesDir(), tarball)); err != nil {
			return fmt.Errorf("ctr images import %s: %v\n%s", tarball, err, out)
		}
	}
	// The web image in the registry: public (kubedx/web:1) and behind basic auth (private/web:1).
	for _, push := range [][]string{
		{"images", "push", "--plain-http", r.registry + "/kubedx/web:1", "localhost/kubedx/web:1"},
		{"images", "push", "--plain-http", "--user", registryUser + ":" + registryPassword, r.registry + "/private/web:1", "localhost/kubedx/web:1"},
	} {
		if out, err := r.ctr(push...); err != nil {
			return fmt.Errorf("ctr %s: %v\n%s", strings.Join(push, " "), err, out)
		}
	}
	r.s.logf("images imported into containerd (%s) and pushed to the registry %s", sock, r.registry)
	return nil
}

func (r *realNode) ctr(args ...string) ([]byte, error) {
	return ctrCmd(r.s.dir, args...)
}

func ctrCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("/usr/bin/ctr", append([]string{"--address", containerdSocket(dir), "--namespace", "k8s.io", "--timeout", "20s"}, args...)...)
	return cmd.CombinedOutput()
}

// startKubelet sets up the node's network and cgroup root and starts the kubelet.
func (r *realNode) startKubelet(ctx context.Context) error {
	if err := setupHostNetwork(); err != nil {
		return err
	}
	if err := setupCgroupRoot(); err != nil {
		return fmt.Errorf("cgroup root /%s: %w", realCgroupRoot, err)
	}
	if _, err := r.s.spawn("kubelet", nil,
		"--config="+r.path("kubelet.yaml"),
		"--kubeconfig="+r.path("kubelet.kubeconfig"),
		"--root-dir="+filepath.Join(r.s.dir, "kubelet"),
		"--cert-dir="+filepath.Join(r.s.dir, "kubelet", "pki"),
		"--hostname-override="+realNodeName,
		"--node-ip="+realNodeIP,
		"--node-labels=kubedx.io/real-node=true",
		"--v=2",
	); err != nil {
		return err
	}
	go r.guardPanicOnOops(ctx)
	admin, err := r.s.adminClient()
	if err != nil {
		return err
	}
	if err := r.s.waitFor(ctx, "Node "+realNodeName+" registered", 120*time.Second, func() error {
		_, err := get(admin, r.s.server+"/api/v1/nodes/"+realNodeName)
		return err
	}); err != nil {
		return err
	}
	// No node-ipam controller runs: the Node gets its podCIDR (the CNI range) here.
	patch := exec.Command(filepath.Join(r.s.bin, "kubectl"), "--kubeconfig="+r.s.path("kubeconfig"), "patch", "node", realNodeName,
		"-p", fmt.Sprintf(`{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, realPodCIDR, realPodCIDR))
	if out, err := patch.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl patch node %s: %v\n%s", realNodeName, err, out)
	}
	return nil
}

// guardPanicOnOops puts kernel.panic_on_oops back as soon as the kubelet set it
// (to 1: an oops would panic the machine), and whenever it is set again.
func (r *realNode) guardPanicOnOops(ctx context.Context) {
	saved, ok := savedSysctls(r.s.dir)["kernel/panic_on_oops"]
	if !ok {
		return
	}
	for {
		if cur, err := readSysctl("kernel/panic_on_oops"); err == nil && cur != saved {
			if err := writeSysctl("kernel/panic_on_oops", saved); err != nil {
				r.s.logf("restore kernel.panic_on_oops: %v", err)
			} else {
				r.s.logf("kernel.panic_on_oops: the kubelet set %s, restored %s", cur, saved)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopPods stops the kubelet, then kills every container process (the
// processes of its cgroup subtree) while containerd still runs, so that the shims
// see their containers exit.
func (r *realNode) stopPods() {
	if c := r.s.live("kubelet"); c != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	killed := 0
	for range 50 {
		pids := cgroupProcesses()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		killed += len(pids)
		time.Sleep(100 * time.Millisecond)
	}
	r.s.logf("real node: kubelet stopped, container processes killed (%d signals)", killed)
}

// ---------------------------------------------------------------- host state

// recordHostState saves, once per plane, the kernel settings and host paths
// that cleanup restores.
func recordHostState(dir string) error {
	var b strings.Builder
	for _, k := range kubeletSysctls {
		if v, err := readSysctl(k); err == nil {
			fmt.Fprintf(&b, "sysctl %s %s\n", k, v)
		}
	}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil {
			fmt.Fprintf(&b, "existed %s\n", p)
		} else {
			fmt.Fprintf(&b, "absent %s\n", p)
		}
	}
	if entries, err := os.ReadDir("/run/containerd/s"); err == nil {
		for _, e := range entries {
			fmt.Fprintf(&b, "socket %s\n", e.Name())
		}
	}
	for table, chains := range kubeletChains {
		for _, c := range chains {
			for _, ipt := range []string{"iptables", "ip6tables"} {
				if exec.Command(ipt, "-w", "-t", table, "-n", "-L", c).Run() == nil {
					fmt.Fprintf(&b, "chain %s %s %s\n", ipt, table, c)
				}
			}
		}
	}
	return os.WriteFile(realDir(dir, "host-state"), []byte(b.String()), 0o644)
}

type hostState struct {
	sysctls    map[string]string
	existed    map[string]bool
	sockets    map[string]bool
	preChains  map[string]bool // "iptables filter KUBE-FIREWALL"
	recordedOK bool
}

func readHostState(dir string) hostState {
	hs := hostState{sysctls: map[string]string{}, existed: map[string]bool{}, sockets: map[string]bool{}, preChains: map[string]bool{}}
	f, err := os.Open(realDir(dir, "host-state"))
	if err != nil {
		return hs
	}
	defer func() { _ = f.Close() }()
	hs.recordedOK = true
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "sysctl":
			if len(fields) == 3 {
				hs.sysctls[fields[1]] = fields[2]
			}
		case "existed":
			hs.existed[fields[1]] = true
		case "socket":
			hs.sockets[fields[1]] = true
		case "chain":
			hs.preChains[strings.Join(fields[1:], " ")] = true
		}
	}
	return hs
}

func savedSysctls(dir string) map[string]string { return readHostState(dir).sysctls }

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", key))
	return strings.TrimSpace(string(b)), err
}

func writeSysctl(key, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value+"\n"), 0o644)
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setupHostNetwork adds the node address to lo and the chain that keeps Pod
// traffic on the machine: from the Pod range, only 198.18.0.0/15 is reachable;
// everything else is rejected (there is no kube-proxy and no masquerading, and
// the Pods have no default route either).
func setupHostNetwork() error {
	if err := run("ip", "addr", "replace", realNodeIP+"/32", "dev", "lo"); err != nil {
		return err
	}
	steps := [][]string{
		{"-w", "-N", realChain},
		{"-w", "-A", realChain, "-s", realPodCIDR, "-d", realNodeNet, "-j", "RETURN"},
		{"-w", "-A", realChain, "-s", realPodCIDR, "-j", "REJECT", "--reject-with", "icmp-net-prohibited"},
		{"-w", "-I", "FORWARD", "1", "-j", realChain},
		{"-w", "-I", "INPUT", "1", "-j", realChain},
	}
	for _, s := range steps {
		if err := run("iptables", s...); err != nil {
			return err
		}
	}
	return nil
}

// cgroupMounts are the cgroup hierarchies: v1 controllers (and named ones) or the v2 root.
func cgroupMounts() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		pf := strings.Fields(post)
		if len(f) < 5 || len(pf) < 1 {
			continue
		}
		if pf[0] == "cgroup" || pf[0] == "cgroup2" {
			out = append(out, f[4])
		}
	}
	sort.Strings(out)
	return out
}

func setupCgroupRoot() error {
	for _, m := range cgroupMounts() {
		d := filepath.Join(m, realCgroupRoot)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		// cpuset (v1): a child cgroup starts with no cpus and mems.
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if parent, err := os.ReadFile(filepath.Join(m, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), parent, 0o644); err != nil {
					return err
				}
			}
		}
		// v2: let the subtree use the controllers the root offers.
		if ctrls, err := os.ReadFile(filepath.Join(m, "cgroup.controllers")); err == nil && filepath.Base(m) != "unified" {
			var enable []string
			for c := range strings.FieldsSeq(string(ctrls)) {
				enable = append(enable, "+"+c)
			}
			_ = os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644)
		}
	}
	return nil
}

// ---------------------------------------------------------------- cleanup

// cleanupRealNode undoes everything the real node of dir did. It is idempotent,
// runs from the supervisor after its components stopped, from `down`, and
// before a new real node starts; it returns what it could not undo.
func cleanupRealNode(dir string) error {
	if _, err := os.Stat(realDir(dir)); err != nil {
		return nil
	}
	var problems []string
	fail := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	hs := readHostState(dir)
	sock := containerdSocket(dir)

	// 1. Processes: the kubelet and containerd of this plane (should the
	// supervisor be gone), the containers (every process in the cgroup subtree),
	// then the shims (each names containerd's socket in its arguments).
	for range 50 {
		left := 0
		for _, pid := range planeProcesses(dir, sock) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			left++
		}
		for _, pid := range cgroupProcesses() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			left++
		}
		if left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if pids := append(planeProcesses(dir, sock), cgroupProcesses()...); len(pids) > 0 {
		fail("processes still running: %v", pids)
	}

	// 2. Mounts under dir, deepest first.
	for range 5 {
		mounts := mountsUnder(dir)
		if len(mounts) == 0 {
			break
		}
		for _, m := range mounts {
			if err := syscall.Unmount(m, 0); err != nil {
				_ = syscall.Unmount(m, syscall.MNT_DETACH)
			}
		}
	}
	if m := mountsUnder(dir); len(m) > 0 {
		fail("still mounted: %s", strings.Join(m, ", "))
	}

	// 3. Network: the bridge (the veths went with the Pods' network namespaces),
	// the node address, the chains.
	if _, err := net.InterfaceByName(realBridge); err == nil {
		if err := run("ip", "link", "del", realBridge); err != nil {
			fail("%v", err)
		}
	}
	if hasLoAddress() {
		if err := run("ip", "addr", "del", realNodeIP+"/32", "dev", "lo"); err != nil {
			fail("%v", err)
		}
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		for _, parent := range []string{"FORWARD", "INPUT"} {
			for exec.Command("iptables", "-w", "-D", parent, "-j", realChain).Run() == nil {
			}
		}
		if exec.Command("iptables", "-w", "-n", "-L", realChain).Run() == nil {
			_ = exec.Command("iptables", "-w", "-F", realChain).Run()
			if err := run("iptables", "-w", "-X", realChain); err != nil {
				fail("%v", err)
			}
		}
		// The kubelet's chains, unless they were there before it started.
		if hs.recordedOK {
			for _, ipt := range []string{"iptables", "ip6tables"} {
				for table, chains := range kubeletChains {
					for _, c := range chains {
						if hs.preChains[ipt+" "+table+" "+c] || exec.Command(ipt, "-w", "-t", table, "-n", "-L", c).Run() != nil {
							continue
						}
						for _, parent := range []string{"INPUT", "OUTPUT"} {
							for exec.Command(ipt, "-w", "-t", table, "-D", parent, "-j", c).Run() == nil {
							}
						}
						_ = exec.Command(ipt, "-w", "-t", table, "-F", c).Run()
						if err := run(ipt, "-w", "-t", table, "-X", c); err != nil {
							fail("%v", err)
						}
					}
				}
			}
		}
	}

	// 4. Kernel settings.
	for k, v := range hs.sysctls {
		if cur, err := readSysctl(k); err == nil && cur != v {
			if err := writeSysctl(k, v); err != nil {
				fail("restore %s=%s: %v", strings.ReplaceAll(k, "/", "."), v, err)
			}
		}
	}

	// 5. The cgroup subtree.
	for _, m := range cgroupMounts() {
		root := filepath.Join(m, realCgroupRoot)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		var cgDirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				cgDirs = append(cgDirs, p)
			}
			return nil
		})
		sort.Slice(cgDirs, func(i, j int) bool { return len(cgDirs[i]) > len(cgDirs[j]) })
		for _, d := range cgDirs {
			var err error
			for range 20 {
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				fail("rmdir %s: %v", d, err)
			}
		}
	}

	// 6. Host paths outside dir.
	if hs.recordedOK {
		for _, p := range hostPaths {
			if !hs.existed[p] {
				if err := os.RemoveAll(p); err != nil {
					fail("remove %s: %v", p, err)
				}
			}
		}
		// Where they existed: only this node's entries.
		if hs.existed["/var/log/containers"] {
			entries, _ := os.ReadDir("/var/log/containers")
			for _, e := range entries {
				p := filepath.Join("/var/log/containers", e.Name())
				if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, dir+"/") {
					_ = os.Remove(p)
				}
			}
		}
		if hs.existed["/run/containerd"] {
			entries, _ := os.ReadDir("/run/containerd/s")
			for _, e := range entries {
				p := filepath.Join("/run/containerd/s", e.Name())
				if hs.sockets[e.Name()] {
					continue
				}
				if c, err := net.Dial("unix", p); err == nil {
					_ = c.Close()
				} else {
					_ = os.Remove(p)
				}
			}
		}
	}

	// The machine-wide lock names this plane no more.
	if realNodeOwner() == dir {
		_ = os.WriteFile(realNodeLock, nil, 0o644)
	}
	if len(problems) > 0 {
		return fmt.Errorf("real node cleanup of %s: %s", dir, strings.Join(problems, "; "))
	}
	return nil
}

// planeProcesses are the real node's processes of dir: kubelet, containerd,
// registry and the containerd shims, found by their command lines.
func planeProcesses(dir, sock string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if isRealNodeProcess(args, dir, sock) {
			if st, err := procStart(pid); err == nil && st != "" {
				out = append(out, pid)
			}
		}
	}
	return out
}

func isRealNodeProcess(args []string, dir, sock string) bool {
	base := filepath.Base(args[0])
	for i, a := range args {
		switch {
		case base == "containerd-shim-runc-v2" && a == "-address" && i+1 < len(args) && args[i+1] == sock:
			return true
		case base == "containerd" && strings.HasPrefix(a, realDir(dir)+"/"):
			return true
		case base == "kubelet" && strings.HasPrefix(a, "--root-dir="+dir+"/"):
			return true
		case base == "registry" && a == "--root" && i+1 < len(args) && strings.HasPrefix(args[i+1], realDir(dir)+"/"):
			return true
		}
	}
	return false
}

// cgroupProcesses are the processes in the real node's cgroup subtree (the containers).
func cgroupProcesses() []int {
	seen := map[int]bool{}
	var out []int
	for _, m := range cgroupMounts() {
		root := filepath.Join(m, realCgroupRoot)
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for f := range strings.FieldsSeq(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hasLoAddress() bool {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return false
	}
	addrs, _ := lo.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.String() == realNodeIP {
			return true
		}
	}
	return false
}
