package seal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hyphateam/hypha"
)

// maxKeyFile bounds what LoadFile reads: a key file is one short line.
const maxKeyFile = 4096

// LoadFile reads the key file at path. It refuses a file that anyone but
// its owner may read or write (mode 0600 or 0400 are right), since the key
// protects everything sealed, and a file whose content is not a key. A
// missing file wraps fs.ErrNotExist.
func LoadFile(path string) (*Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("server key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, hypha.Errorf(hypha.EInvalid, "server key file %s is not a regular file", path)
	}
	// Windows reports no Unix permissions; its ACLs are the operator's.
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, hypha.Errorf(hypha.EInvalid, "server key file %s is open to other users than its owner (mode %04o): run `chmod 600 %s` (only its owner may read it: it protects every sealed secret)", path, st.Mode().Perm(), path)
	}
	if st.Size() > maxKeyFile {
		return nil, hypha.Errorf(hypha.EInvalid, "server key file %s is %d bytes: a key file holds one line, 32 bytes in base64 or hex", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("server key file: %w", err)
	}
	k, err := Parse(string(b))
	if err != nil {
		return nil, hypha.Errorf(hypha.EInvalid, "server key file %s: %s", path, hypha.ErrorMessage(err))
	}
	return k, nil
}

// CreateFile writes a fresh key to path, readable by its owner only. It
// never replaces a file: if path exists, even when created concurrently by
// another process, the error wraps fs.ErrExist. The key is written to a
// temporary file and linked into place, so a crash never leaves a partial
// key at path.
func CreateFile(path string) (*Key, error) {
	k, err := NewKey()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".server.key-*")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("its directory %s does not exist", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("create server key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return nil, fmt.Errorf("create server key file: %w", err)
	}
	_, werr := tmp.WriteString(k.encoded())
	serr := tmp.Sync()
	if cerr := tmp.Close(); werr == nil && serr == nil {
		werr = cerr
	}
	if err := errors.Join(werr, serr); err != nil {
		return nil, fmt.Errorf("write server key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("server key file %s: %w", path, fs.ErrExist)
		}
		return nil, fmt.Errorf("create server key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable
		d.Close()
	}
	return k, nil
}

// LoadOrCreateFile loads the key file at path, or creates it when there is
// none; created tells which. Two processes starting at once end up with
// the same key: the loser of the creation loads the winner's file.
func LoadOrCreateFile(path string) (k *Key, created bool, err error) {
	k, err = LoadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = CreateFile(path)
	if errors.Is(err, fs.ErrExist) {
		k, err = LoadFile(path)
		return k, false, err
	}
	return k, err == nil, err
}

// MoveFile moves the key file at from to to, which must not exist: it is
// linked into place, so an existing file is never replaced (the error then
// wraps fs.ErrExist), and the old name removed. A move across file systems
// fails; the caller says how to move the file by hand.
func MoveFile(from, to string) error {
	if err := os.Link(from, to); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("server key file %s: %w", to, fs.ErrExist)
		}
		return fmt.Errorf("move server key file: %w", err)
	}
	if err := os.Remove(from); err != nil {
		return fmt.Errorf("move server key file: remove %s: %w", from, err)
	}
	for _, dir := range []string{filepath.Dir(to), filepath.Dir(from)} {
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync() // make the new name and the removal durable
			d.Close()
		}
	}
	return nil
}
