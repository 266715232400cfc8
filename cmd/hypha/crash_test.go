package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hyphateam/hypha/internal/testdb"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// hyphaBinary builds the hypha binary once per test run.
func hyphaBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hypha-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "hypha")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serverProc is a `hypha serve` child process.
type serverProc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startServerProc(t *testing.T, bin, db, addr string) *serverProc {
	t.Helper()
	p, err := launchServerProc(bin, db, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	return p
}

// launchServerProc starts `hypha serve` and waits until /health answers.
func launchServerProc(bin, db, addr string) (*serverProc, error) {
	cmd := exec.Command(bin, "serve", "--db", db, "--listen", addr, "--migrate", "--log-level", "warn")
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{cmd: cmd, out: out}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()
	return nil, fmt.Errorf("server did not become healthy:\n%s", out.String())
}

func (p *serverProc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

// teamKeyFor creates a Team Key through the CLI and returns its secret.
func teamKeyFor(t *testing.T, bin, db string) string {
	t.Helper()
	if out, err := exec.Command(bin, "migrate", "up", "--db", db).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "token", "create-team-key", "--db", db, "--name", "crash test").CombinedOutput()
	if err != nil {
		t.Fatalf("create-team-key: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "hyk_") {
			return line
		}
	}
	t.Fatalf("no key in output:\n%s", out)
	return ""
}

// TestCrash_KillDuringIngestLosesNothing streams 20,000 records in batches
// of 100, resending every batch until it is acknowledged, while the server
// is killed with SIGKILL twice mid-stream and restarted. Afterwards every
// record is present exactly once.
func TestCrash_KillDuringIngestLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills server processes")
	}
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			bin := hyphaBinary(t)
			db := dbArg(t, engine)
			key := teamKeyFor(t, bin, db)
			addr := freeAddr(t)
			proc := startServerProc(t, bin, db, addr)

			const batches, perBatch = 200, 100
			var acked atomic.Int64
			done := make(chan struct{})
			restarted := make(chan *serverProc, 2)
			go func() { // the chaos: SIGKILL at two points, restart shortly after
				defer close(done)
				for _, at := range []int64{40, 130} {
					for acked.Load() < at {
						time.Sleep(time.Millisecond)
					}
					proc.kill()
					time.Sleep(200 * time.Millisecond)
					p, err := launchServerProc(bin, db, addr)
					if err != nil {
						t.Error(err)
						return
					}
					proc = p
					restarted <- p
				}
			}()
			client := &http.Client{Timeout: 10 * time.Second}
			resends := 0
			for b := 0; b < batches; b++ {
				var recs []map[string]any
				for i := 0; i < perBatch; i++ {
					n := b*perBatch + i
					recs = append(recs, map[string]any{"table": "spores", "operation": "upsert", "id": fmt.Sprintf("s%05d", n), "machine_id": "m1",
						"content_hash": fmt.Sprint("h", n), "data": map[string]any{"project_id": "proj_0123456789abcdef0123456789abcdef",
							"content": fmt.Sprintf("spore number %d %s", n, strings.Repeat("x", 200)), "status": "active"}})
				}
				body, _ := json.Marshal(map[string]any{"sync_protocol_version": 3, "machine_id": "m1", "records": recs})
				for attempt := 0; ; attempt++ {
					if attempt > 2000 {
						t.Fatalf("batch %d never acknowledged", b)
					}
					req, _ := http.NewRequest("POST", "http://"+addr+"/enqueue", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := client.Do(req)
					if err != nil {
						resends++
						time.Sleep(10 * time.Millisecond)
						continue
					}
					var out map[string]any
					_ = json.NewDecoder(resp.Body).Decode(&out)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						resends++
						time.Sleep(10 * time.Millisecond)
						continue
					}
					if out["accepted"] != float64(perBatch) {
						t.Fatalf("batch %d: %v", b, out)
					}
					break
				}
				acked.Add(1)
			}
			<-done
			close(restarted)
			for p := range restarted {
				t.Cleanup(p.kill)
			}
			t.Logf("%d resends across two SIGKILLs", resends)

			// Every id exactly once, read back through the manifest.
			seen := map[string]int{}
			cursor := ""
			for {
				url := "http://" + addr + "/manifest?machine_id=m1&table=spores&limit=1000&cursor=" + cursor
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var page struct {
					Count      int                   `json:"count"`
					Items      []struct{ ID string } `json:"items"`
					NextCursor string                `json:"next_cursor"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&page)
				resp.Body.Close()
				if page.Count != batches*perBatch {
					t.Fatalf("count = %d, want %d", page.Count, batches*perBatch)
				}
				for _, it := range page.Items {
					seen[it.ID]++
				}
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			if len(seen) != batches*perBatch {
				t.Fatalf("%d distinct records, want %d", len(seen), batches*perBatch)
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("record %s listed %d times", id, n)
				}
			}
		})
	}
}
