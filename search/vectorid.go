package search

import (
	"crypto/sha256"
	"encoding/base64"
)

// VectorID is the Myco worker's vector id of a record (reference §6.3):
// "v1:" + base64url without padding of the first 16 bytes of
// SHA-256("<table>:<id>:<machine_id>"), 25 characters. Hypha keys stored
// vectors by record, not by this id; it is kept for results and exports
// that name vectors the way Myco clients expect.
func VectorID(table, id, machineID string) string {
	sum := sha256.Sum256([]byte(table + ":" + id + ":" + machineID))
	return "v1:" + base64.RawURLEncoding.EncodeToString(sum[:16])
}
