// Command testcluster starts and stops kubedx's test control plane: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok (playing
// the kubelets of fake Nodes), all built from their Go modules and listening
// on 127.0.0.1 only.
//
//	testcluster up DIR [--owner-pid PID] [--timeout 5m] [--real-node]
//	testcluster down DIR
//	testcluster status DIR
//	testcluster stop DIR COMPONENT
//	testcluster start DIR COMPONENT
//
// "up" generates certificates and configuration under DIR, starts a detached
// supervisor process (its own session and process group) that runs every
// component, waits until the plane is ready (readyz, Nodes Ready, kube-dns
// endpoints) and returns. DIR/kubeconfig is an admin kubeconfig.
// "down" stops everything "up" started, also after the caller crashed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `usage:
  testcluster up DIR [--owner-pid PID] [--timeout DURATION] [--real-node]
      start the plane with its data under DIR, wait until it is ready, write DIR/kubeconfig
      --owner-pid PID   tear the plane down when process PID exits
      --real-node       also Node real-1: a real kubelet, containerd and a local registry (root)
  testcluster down DIR
      stop every process "up" started for DIR
  testcluster status DIR
      print the plane's state ("ready", "failed: ...", "stopped")
  testcluster stop DIR COMPONENT
      stop one component of a running plane on purpose (a fault to test against);
      COMPONENT: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
  testcluster start DIR COMPONENT
      start a component stopped with "stop" again (same arguments, ports and data);
      returns once it serves again
`

func main() {
	if len(os.Args) < 3 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, dir := os.Args[1], os.Args[2]
	abs, err := filepath.Abs(dir)
	if err != nil {
		fatal(err)
	}
	args := os.Args[3:]
	switch cmd {
	case "up":
		fs := flag.NewFlagSet("up", flag.ExitOnError)
		owner := fs.Int("owner-pid", 0, "tear the plane down when this process exits")
		timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the plane to be ready")
		withRealNode := fs.Bool("real-node", false, "add Node real-1: a real kubelet and containerd (root, Debian packages: see tests/cluster/README.md)")
		_ = fs.Parse(args)
		if err := up(abs, *owner, *timeout, *withRealNode); err != nil {
			fatal(err)
		}
	case "down":
		if err := down(abs); err != nil {
			fatal(err)
		}
		fmt.Fprintf(os.Stderr, "testcluster: %s is down\n", abs)
	case "status":
		b, err := os.ReadFile(filepath.Join(abs, "state"))
		if err != nil {
			fatal(err)
		}
		fmt.Println(strings.TrimSpace(string(b)))
	case "stop", "start":
		if len(args) != 1 {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		if err := request(abs, cmd+" "+args[0]); err != nil {
			fatal(err)
		}
		fmt.Fprintf(os.Stderr, "testcluster: %s %s: ok\n", cmd, args[0])
	case "supervise": // internal: run by "up", detached
		fs := flag.NewFlagSet("supervise", flag.ExitOnError)
		owner := fs.Int("owner-pid", 0, "")
		ownerStart := fs.String("owner-start", "", "")
		withRealNode := fs.Bool("real-node", false, "")
		_ = fs.Parse(args)
		os.Exit(supervise(abs, *owner, *ownerStart, *withRealNode))
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
	os.Exit(1)
}

func binDir() string {
	exe, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	return filepath.Dir(exe)
}

func up(dir string, owner int, timeout time.Duration, withRealNode bool) error {
	// Ports are picked free and handed to the components; should another process
	// take one in between, start again with new ones.
	for attempt := 1; ; attempt++ {
		err := upOnce(dir, owner, timeout, withRealNode)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
		fmt.Fprintf(os.Stderr, "testcluster: a port was taken meanwhile (%v); retrying\n", firstLine(err.Error()))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func upOnce(dir string, owner int, timeout time.Duration, withRealNode bool) error {
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"} {
		if _, err := os.Stat(filepath.Join(binDir(), b)); err != nil {
			return fmt.Errorf("missing binary %s in %s: run tests/cluster/testcluster build", b, binDir())
		}
	}
	if pid, ok := livePid(filepath.Join(dir, "supervisor.pid")); ok {
		return fmt.Errorf("a plane is already running for %s (supervisor pid %d): run `testcluster down %s` first", dir, pid, dir)
	}
	if withRealNode {
		if err := realNodePreflight(dir); err != nil {
			return err
		}
	}
	// What a crashed real node of this directory left behind, before its files go.
	if err := cleanupRealNode(dir); err != nil {
		return err
	}
	ownerStart := ""
	if owner != 0 {
		st, err := procStart(owner)
		if err != nil {
			return fmt.Errorf("--owner-pid %d: %w", owner, err)
		}
		ownerStart = st
	}
	// Fresh state every time: a plane is disposable.
	for _, sub := range []string{"etcd", "logs", "pki", "kwok-home", "state", "pids", "supervisor.pid", "audit.log", "cluster.env", "control.sock", "real-node", "containerd", "kubelet"} {
		_ = os.RemoveAll(filepath.Join(dir, sub))
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "state"), []byte("starting\n"), 0o644); err != nil {
		return err
	}

	logf, err := os.OpenFile(filepath.Join(dir, "logs", "supervisor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer func() { _ = devnull.Close() }()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	supArgs := []string{"supervise", dir, "--owner-pid", strconv.Itoa(owner), "--owner-start", ownerStart}
	if withRealNode {
		supArgs = append(supArgs, "--real-node")
	}
	sup := exec.Command(self, supArgs...)
	sup.Stdin, sup.Stdout, sup.Stderr = devnull, logf, logf
	// Own session and process group: survives the caller's terminal and signals,
	// and "down" can kill the whole group at once.
	sup.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	start := time.Now()
	if err := sup.Start(); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sup.Wait() }()

	fmt.Fprintf(os.Stderr, "testcluster: starting plane in %s (supervisor pid %d, logs in %s/logs)\n", dir, sup.Process.Pid, dir)
	deadline := time.Now().Add(timeout)
	for {
		state := readState(dir)
		switch {
		case state == "ready":
			fmt.Fprintf(os.Stderr, "testcluster: ready in %.1fs\n", time.Since(start).Seconds())
			fmt.Printf("export KUBECONFIG=%s\n", filepath.Join(dir, "kubeconfig"))
			return nil
		case strings.HasPrefix(state, "failed"):
			_ = down(dir)
			return errors.New(state)
		}
		select {
		case err := <-exited:
			state := readState(dir)
			_ = down(dir)
			if strings.HasPrefix(state, "failed") {
				return errors.New(state)
			}
			return fmt.Errorf("supervisor exited before the plane was ready (%v); state %q; last lines of %s:\n%s",
				err, state, filepath.Join(dir, "logs", "supervisor.log"), tail(filepath.Join(dir, "logs", "supervisor.log"), 30))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = down(dir)
			return fmt.Errorf("plane not ready after %s; last lines of %s:\n%s", timeout,
				filepath.Join(dir, "logs", "supervisor.log"), tail(filepath.Join(dir, "logs", "supervisor.log"), 40))
		}
	}
}

func readState(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "state"))
	return strings.TrimSpace(string(b))
}

// down stops the supervisor (which stops its components in order), then kills
// whatever is left of the process group and of the recorded pids.
func down(dir string) error {
	supPidFile := filepath.Join(dir, "supervisor.pid")
	pid, alive := livePid(supPidFile)
	if alive {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(45 * time.Second)
		for time.Now().Before(deadline) {
			if _, ok := livePid(supPidFile); !ok {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if pid > 0 {
		// The supervisor leads its own process group; anything left in it goes now.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	// Components record their pid and start time; kill any that somehow left the group.
	if b, err := os.ReadFile(filepath.Join(dir, "pids")); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				continue
			}
			p, err := strconv.Atoi(f[1])
			if err != nil {
				continue
			}
			if st, err := procStart(p); err == nil && st == f[2] {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	}
	_ = os.Remove(supPidFile)
	// The real node's containers, mounts, network and kernel settings (the
	// supervisor did this already unless it was killed).
	cleanupErr := cleanupRealNode(dir)
	if s := readState(dir); s == "ready" || s == "starting" {
		_ = os.WriteFile(filepath.Join(dir, "state"), []byte("stopped\n"), 0o644)
	}
	return cleanupErr
}

// livePid reads "PID STARTTIME" from file and tells whether that very process still runs.
func livePid(file string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, false
	}
	st, err := procStart(pid)
	return pid, err == nil && st == f[1]
}

// procStart returns the start time of a process (field 22 of /proc/PID/stat),
// which tells a live process from a later one that reused its pid.
func procStart(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", fmt.Errorf("no such process %d", pid)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); start time is field 22.
	if len(f) < 20 {
		return "", fmt.Errorf("bad /proc/%d/stat", pid)
	}
	if f[0] == "Z" {
		return "", fmt.Errorf("process %d is a zombie", pid)
	}
	return f[19], nil
}

// tail returns the last n lines of a file.
func tail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", file, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
