package hypha

import (
	"context"
	"time"
)

// KVEntry is one value of the key-value store, which has the semantics of
// Cloudflare Workers KV plus a version for compare-and-set.
type KVEntry struct {
	Key       string
	Value     []byte
	Metadata  []byte // JSON, or nil
	Version   int64  // the revision of the last write: it grows with every write and is never reused, even after a delete or expiry
	ExpiresAt int64  // epoch seconds; 0 means never
}

// KVPutOptions qualifies a KV write.
type KVPutOptions struct {
	Metadata []byte        // JSON stored beside the value; nil for none
	TTL      time.Duration // > 0 makes the entry expire after this long
	// IfVersion turns the write into a compare-and-set: nil writes
	// unconditionally; a pointer to 0 writes only if the key does not exist;
	// a pointer to n writes only if the current version is n. A lost race
	// returns *ConflictError. Versions come from one revision counter shared
	// by all keys, so a key that was deleted and written again never shows
	// an old version.
	IfVersion *int64
}

// KVListOptions selects a page of keys.
type KVListOptions struct {
	Prefix string
	Cursor string // the Cursor of the previous page; "" for the first
	Limit  int    // 1..1000; 0 means 1000
}

// KVKey is a key listed by KVList, with its metadata but not its value.
type KVKey struct {
	Name      string `json:"name"`
	Metadata  []byte `json:"metadata,omitempty"`
	Version   int64  `json:"version"`
	ExpiresAt int64  `json:"expiration,omitempty"`
}

// KVListPage is one page of a KV listing. Cursor is "" on the last page.
type KVListPage struct {
	Keys   []KVKey
	Cursor string
}

// KVStore is the key-value store. Expired entries are invisible to every
// operation; Delete of a missing key is not an error.
type KVStore interface {
	KVGet(ctx context.Context, key string) (*KVEntry, error)
	KVPut(ctx context.Context, key string, value []byte, opts KVPutOptions) (version int64, err error)
	KVList(ctx context.Context, opts KVListOptions) (*KVListPage, error)
	KVDelete(ctx context.Context, key string) error
	// KVSweep removes entries that expired before now and returns how many.
	KVSweep(ctx context.Context) (int64, error)
}
