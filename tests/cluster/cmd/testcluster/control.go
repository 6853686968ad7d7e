package main

// Deliberate faults: `testcluster stop DIR COMPONENT` and `testcluster start DIR
// COMPONENT` ask the running supervisor, over DIR/control.sock, to stop one
// component (SIGTERM, SIGKILL after 5 s: kube-apiserver waits for in-flight
// watches far longer) and to start it again with the same
// arguments, ports and data. A component stopped this way is not a failure of the
// plane. While a component is stopped, and for two minutes after it came back,
// the supervisor restarts kube-controller-manager, kube-scheduler and kwok
// should they exit (as a kubelet restarts static Pods), since losing the
// apiserver can make them give up.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// restartable components are restarted when they exit during or shortly after a deliberate outage.
var restartable = map[string]bool{"kube-controller-manager": true, "kube-scheduler": true, "kwok": true}

// stoppable components can be stopped and started on request.
var stoppable = map[string]bool{"etcd": true, "kube-apiserver": true, "kube-controller-manager": true, "kube-scheduler": true, "kwok": true}

const recentOutage = 2 * time.Minute

func controlSocket(dir string) string { return filepath.Join(dir, "control.sock") }

// serveControl listens on DIR/control.sock until ctx ends.
func (s *supervisor) serveControl(ctx context.Context) error {
	path := controlSocket(s.dir)
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = l.Close()
		_ = os.Remove(path)
	}()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go s.handleControl(ctx, conn)
		}
	}()
	return nil
}

func (s *supervisor) handleControl(ctx context.Context, conn net.Conn) {
	defer func() { _ = conn.Close() }()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	reply := func(err error) {
		if err != nil {
			s.logf("control %q: %v", strings.TrimSpace(line), err)
			_, _ = fmt.Fprintf(conn, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " | "))
			return
		}
		s.logf("control %q: ok", strings.TrimSpace(line))
		_, _ = fmt.Fprintln(conn, "ok")
	}
	if len(f) != 2 || !stoppable[f[1]] {
		reply(fmt.Errorf("want `stop|start COMPONENT` with COMPONENT one of etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok"))
		return
	}
	switch f[0] {
	case "stop":
		reply(s.stopComponent(f[1]))
	case "start":
		reply(s.startComponent(ctx, f[1]))
	default:
		reply(fmt.Errorf("unknown command %q", f[0]))
	}
}

// live returns the running instance of a component.
func (s *supervisor) live(name string) *component {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.comps) - 1; i >= 0; i-- {
		c := s.comps[i]
		if c.name != name {
			continue
		}
		select {
		case <-c.done:
		default:
			return c
		}
	}
	return nil
}

// forget drops an exited component from the list stopAll signals (its pid may be reused).
func (s *supervisor) forget(c *component) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.comps {
		if x == c {
			s.comps = append(s.comps[:i], s.comps[i+1:]...)
			return
		}
	}
}

func (s *supervisor) stopComponent(name string) error {
	s.mu.Lock()
	already := s.stopped[name]
	s.mu.Unlock()
	if already {
		return fmt.Errorf("%s is already stopped", name)
	}
	c := s.live(name)
	if c == nil {
		return fmt.Errorf("%s is not running", name)
	}
	s.mu.Lock()
	c.deliberate = true
	s.stopped[name] = true
	s.mu.Unlock()
	s.logf("stopping %s on request", name)
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		s.logf("%s did not stop in 5s: killing it", name)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	return nil
}

func (s *supervisor) startComponent(ctx context.Context, name string) error {
	s.mu.Lock()
	stopped := s.stopped[name]
	var last *component
	for _, c := range s.comps {
		if c.name == name {
			last = c
		}
	}
	s.mu.Unlock()
	if !stopped || last == nil {
		return fmt.Errorf("%s was not stopped with `testcluster stop`", name)
	}
	s.forget(last)
	if _, err := s.spawnPath(name, last.program, last.env, last.args...); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.stopped, name)
	s.lastRestart = time.Now()
	s.mu.Unlock()
	return s.waitStarted(ctx, name)
}

// waitStarted waits until a restarted component serves again.
func (s *supervisor) waitStarted(ctx context.Context, name string) error {
	var check func() error
	switch name {
	case "etcd":
		plain := &http.Client{Timeout: 2 * time.Second}
		url := fmt.Sprintf("http://127.0.0.1:%d/health", s.ports["etcd-client"])
		check = func() error {
			b, err := get(plain, url)
			if err == nil && !strings.Contains(string(b), `"health":"true"`) {
				err = fmt.Errorf("etcd health: %s", b)
			}
			return err
		}
	case "kube-apiserver":
		admin, err := s.adminClient()
		if err != nil {
			return err
		}
		check = func() error { _, err := get(admin, s.server+"/readyz"); return err }
	default:
		started := time.Now()
		check = func() error {
			if time.Since(started) < 2*time.Second {
				return errors.New("starting")
			}
			return nil
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := check()
		if err == nil {
			s.logf("%s is back", name)
			return nil
		}
		if s.live(name) == nil {
			return fmt.Errorf("%s exited while starting; last lines of its log:\n%s", name, tail(s.path("logs", name+".log"), 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not back after 2m: %v", name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// expectedExit tells whether an exited component is no failure of the plane: it
// was stopped on request, or it gave up during a deliberate outage and is
// restarted here.
func (s *supervisor) expectedExit(ctx context.Context, c *component) bool {
	s.mu.Lock()
	deliberate := c.deliberate
	outage := len(s.stopped) > 0 || time.Since(s.lastRestart) < recentOutage
	s.mu.Unlock()
	if deliberate {
		s.logf("%s stopped on request (%v)", c.name, c.err)
		return true
	}
	if !outage || !restartable[c.name] || ctx.Err() != nil {
		return false
	}
	s.logf("%s exited during a deliberate outage (%v): restarting it", c.name, c.err)
	s.forget(c)
	if _, err := s.spawnPath(c.name, c.program, c.env, c.args...); err != nil {
		s.logf("restart %s: %v", c.name, err)
		return false
	}
	return true
}

// request sends one control command to the supervisor of dir and returns its answer.
func request(dir, command string) error {
	conn, err := net.DialTimeout("unix", controlSocket(dir), 5*time.Second)
	if err != nil {
		return fmt.Errorf("no running plane in %s (%v)", dir, err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Minute))
	if _, err := fmt.Fprintln(conn, command); err != nil {
		return err
	}
	answer, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no answer from the supervisor: %v", err)
	}
	answer = strings.TrimSpace(answer)
	if answer != "ok" {
		return errors.New(strings.TrimPrefix(answer, "error: "))
	}
	return nil
}
