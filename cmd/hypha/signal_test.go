package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// drainingServer is a `hypha serve` child process with a drain that cannot
// end on its own: a shutdown_timeout of ten minutes and an /enqueue whose
// handler is reading a body that is only half sent.
type drainingServer struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, once exited is closed

	conn net.Conn
	rd   *bufio.Reader
	rest []byte // the body's second half
}

func startDrainingServer(t *testing.T) *drainingServer {
	t.Helper()
	bin := hyphaBinary(t)
	db := dbArg(t, "sqlite")
	key := teamKeyFor(t, bin, db)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--db", db, "--listen", addr, "--shutdown-timeout", "10m", "--log-level", "info", "--log-format", "json")
	s := &drainingServer{cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
		if t.Failed() {
			t.Logf("server log:\n%s", tail(s.out.String(), 40))
		}
	})
	waitFor(t, "the server's /health", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	rec := map[string]any{"table": "spores", "operation": "upsert", "id": "s1", "machine_id": "m1", "content_hash": "h1",
		"data": map[string]any{"project_id": "proj_0123456789abcdef0123456789abcdef", "content": "held open", "status": "active"}}
	body, _ := json.Marshal(map[string]any{"sync_protocol_version": 3, "machine_id": "m1", "records": []any{rec}})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	half := len(body) / 2
	// Expect: 100-continue makes the server say when the handler, past
	// authentication, starts reading the body: the request is in flight.
	fmt.Fprintf(conn, "POST /enqueue HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, key, len(body))
	s.conn, s.rd, s.rest = conn, bufio.NewReader(conn), body[half:]
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := s.rd.ReadString('\n')
	if err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("interim response %q, %v; want 100 Continue", line, err)
	}
	if _, err := s.rd.ReadString('\n'); err != nil { // the blank line ending it
		t.Fatal(err)
	}
	if _, err := conn.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	return s
}

// signal sends sig to the server.
func (s *drainingServer) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// waitDraining waits for the log line of the drain's start.
func (s *drainingServer) waitDraining(t *testing.T) {
	t.Helper()
	waitFor(t, "the drain to start", 30*time.Second, func() bool {
		return strings.Contains(s.out.String(), "shutting down: draining in-flight requests")
	})
}

// waitExit waits for the process to exit and returns its exit code.
func (s *drainingServer) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(within):
		t.Fatalf("the server still runs %v later", within)
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	return 0
}

func TestServe_OneSignalDrainsInFlightRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server process")
	}
	s := startDrainingServer(t)
	s.signal(t, syscall.SIGTERM)
	s.waitDraining(t)
	select {
	case <-s.exited:
		t.Fatal("the server exited with a request in flight")
	default:
	}
	// The drain waits for the request: finish it and read its answer.
	if _, err := s.conn.Write(s.rest); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(s.rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Accepted int `json:"accepted"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || out.Accepted != 1 {
		t.Fatalf("in-flight /enqueue answered %d, accepted %d (%v); want 200, 1", resp.StatusCode, out.Accepted, err)
	}
	if code := s.waitExit(t, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d after a drain; want 0", code)
	}
	if !strings.Contains(s.out.String(), `"msg":"stopped"`) {
		t.Fatal(`no "stopped" in the log`)
	}
}

func TestServe_SecondSignalExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server process")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startDrainingServer(t)
			s.signal(t, sig)
			s.waitDraining(t)
			// The drain would wait ten minutes for the half-sent request.
			s.signal(t, sig)
			if code := s.waitExit(t, 60*time.Second); code != 1 {
				t.Fatalf("exit code %d after a second signal; want 1", code)
			}
			if !strings.Contains(s.out.String(), "second signal: exiting now") {
				t.Fatal(`no "second signal: exiting now" in the log`)
			}
		})
	}
}
