package seal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/internal/seal"
)

func mustKey(t *testing.T) *seal.Key {
	t.Helper()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSeal_RoundTrip(t *testing.T) {
	k := mustKey(t)
	secret := []byte("hym_the-shared-token")
	a, err := k.Seal("sealed:mcp_shared_token:g1", secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Seal("sealed:mcp_shared_token:g1", secret)
	if a == b {
		t.Fatal("two seals of one value are identical: the nonce is not fresh")
	}
	if strings.Contains(a, string(secret)) || !strings.HasPrefix(a, "hs1."+k.ID()+".") || seal.KeyIDOf(a) != k.ID() {
		t.Fatalf("sealed text %q", a)
	}
	for _, s := range []string{a, b} {
		got, err := k.Open("sealed:mcp_shared_token:g1", s)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	empty, _ := k.Seal("p", nil)
	if got, err := k.Open("p", empty); err != nil || len(got) != 0 {
		t.Fatalf("empty value: %q, %v", got, err)
	}
}

func TestSeal_Refusals(t *testing.T) {
	k, other := mustKey(t), mustKey(t)
	sealed, _ := k.Seal("sealed:mcp_shared_token:g1", []byte("secret"))
	otherSealed, _ := other.Seal("sealed:mcp_shared_token:g1", []byte("secret"))
	body := sealed[strings.LastIndex(sealed, ".")+1:]
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)-1] ^= 1

	tests := []struct {
		name, purpose, value string
		want                 error
	}{
		{"wrong_key", "sealed:mcp_shared_token:g1", otherSealed, seal.ErrWrongKey},
		// A value moved to another KV key (another grove's slot) does not open.
		{"other_purpose", "sealed:mcp_shared_token:g2", sealed, seal.ErrCorrupt},
		{"altered", "sealed:mcp_shared_token:g1", "hs1." + k.ID() + "." + base64.RawURLEncoding.EncodeToString(flipped), seal.ErrCorrupt},
		{"truncated", "sealed:mcp_shared_token:g1", sealed[:len(sealed)-10], seal.ErrCorrupt},
		{"too_short", "sealed:mcp_shared_token:g1", "hs1." + k.ID() + ".AAAA", seal.ErrCorrupt},
		// The other key's ciphertext relabelled with this key's id: the
		// key id is bound into the associated data, so it does not open.
		{"relabelled", "sealed:mcp_shared_token:g1", "hs1." + k.ID() + "." + otherSealed[strings.LastIndex(otherSealed, ".")+1:], seal.ErrCorrupt},
		{"other_version", "sealed:mcp_shared_token:g1", "hs2" + sealed[3:], seal.ErrCorrupt},
		{"plaintext", "sealed:mcp_shared_token:g1", "hym_plain", seal.ErrCorrupt},
		{"empty", "sealed:mcp_shared_token:g1", "", seal.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Open(tt.purpose, tt.value)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
	_, err := k.Open("sealed:mcp_shared_token:g1", otherSealed)
	if msg := hypha.ErrorMessage(err); !strings.Contains(msg, other.ID()) || !strings.Contains(msg, k.ID()) {
		t.Fatalf("a wrong key's message names no key ids: %q", msg)
	}
}

func TestParse(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfe, 0x01}, 16)
	want, err := seal.FromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), " " + base64.RawURLEncoding.EncodeToString(raw) + "\n",
	} {
		k, err := seal.Parse(s)
		if err != nil || k.ID() != want.ID() {
			t.Errorf("Parse(%q) = %v, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "  \n", "not a key", hex.EncodeToString(raw[:31]), base64.StdEncoding.EncodeToString(raw[:16]),
		base64.StdEncoding.EncodeToString(append(raw, 0))} {
		if k, err := seal.Parse(s); err == nil || hypha.ErrorCode(err) != hypha.EInvalid {
			t.Errorf("Parse(%q) = %v, %v; want invalid", s, k, err)
		}
	}
	if _, err := seal.FromBytes(raw[:10]); hypha.ErrorCode(err) != hypha.EInvalid {
		t.Errorf("FromBytes of 10 bytes: %v", err)
	}
}

// TestKey_NeverPrinted: no fmt verb and no log line shows the key's bytes.
func TestKey_NeverPrinted(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	k, _ := seal.FromBytes(raw)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("start", "key", k)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("start", "key", k)
	outs := []string{logged.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k))
	}
	for _, out := range outs {
		for _, leak := range []string{"abababab", "ABABABAB", "q6urq6", "171 171", "[171"} {
			if strings.Contains(out, leak) {
				t.Fatalf("the key's bytes were printed: %s", out)
			}
		}
	}
	if !strings.Contains(fmt.Sprint(k), k.ID()) {
		t.Fatalf("a key prints as %q, without its id", fmt.Sprint(k))
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.key")
	_, err := seal.LoadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFile of a missing file: %v", err)
	}
	k, created, err := seal.LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateFile = %v, %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	again, created, err := seal.LoadOrCreateFile(path)
	if err != nil || created || again.ID() != k.ID() {
		t.Fatalf("second LoadOrCreateFile = %v %v %v; want the same key", again, created, err)
	}
	if _, err := seal.CreateFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateFile over an existing key: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}

	t.Run("concurrent_first_start", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "server.key")
		ids := make([]string, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, _, err := seal.LoadOrCreateFile(p)
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = k.ID()
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("processes starting at once got different keys: %v", ids)
			}
		}
	})
	t.Run("move", func(t *testing.T) {
		d := t.TempDir()
		from, to := filepath.Join(d, "data", "server.key"), filepath.Join(d, "data.key")
		if err := os.Mkdir(filepath.Dir(from), 0o700); err != nil {
			t.Fatal(err)
		}
		k, err := seal.CreateFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := seal.MoveFile(from, to); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(from); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the old key file is still there: %v", err)
		}
		moved, err := seal.LoadFile(to)
		if err != nil || moved.ID() != k.ID() {
			t.Fatalf("moved key = %v, %v; want %s", moved, err, k.ID())
		}
		// Never over an existing file.
		other, err := seal.CreateFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := seal.MoveFile(from, to); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("MoveFile over an existing key: %v", err)
		}
		if kept, _ := seal.LoadFile(to); kept.ID() != k.ID() {
			t.Fatal("MoveFile replaced an existing key file")
		}
		if still, _ := seal.LoadFile(from); still.ID() != other.ID() {
			t.Fatal("a refused MoveFile removed its source")
		}
	})
	t.Run("refusals", func(t *testing.T) {
		d := t.TempDir()
		write := func(name, content string, mode os.FileMode) string {
			p := filepath.Join(d, name)
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			return p
		}
		good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
		cases := map[string]string{
			"malformed": write("bad.key", "hello", 0o600),
			"short":     write("short.key", good[:20], 0o600),
			"directory": d,
		}
		if runtime.GOOS != "windows" {
			cases["world_readable"] = write("open.key", good, 0o644)
		}
		for name, p := range cases {
			if _, err := seal.LoadFile(p); hypha.ErrorCode(err) != hypha.EInvalid || !strings.Contains(err.Error(), p) {
				t.Errorf("%s: LoadFile = %v; want invalid naming the file", name, err)
			}
		}
		if runtime.GOOS != "windows" {
			_, err := seal.LoadFile(cases["world_readable"])
			if !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("world-readable key: %v; want the fix", err)
			}
			// Only the owner may have access: not its group either.
			_, err = seal.LoadFile(write("group.key", good, 0o640))
			if hypha.ErrorCode(err) != hypha.EInvalid || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), "0640") {
				t.Errorf("a group-readable key file: %v; want refused with the fix", err)
			}
			for _, mode := range []os.FileMode{0o600, 0o400} {
				if _, err := seal.LoadFile(write(fmt.Sprintf("owner%o.key", mode), good, mode)); err != nil {
					t.Errorf("a key file of mode %04o: %v", mode, err)
				}
			}
		}
	})
}
