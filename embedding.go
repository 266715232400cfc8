package hypha

import (
	"encoding/binary"
	"math"
)

// Embedding is the stored vector of one record's text. Vectors are kept in
// the database so the in-process index can be rebuilt from it at start.
type Embedding struct {
	Key         RecordKey
	Model       string    // provider/model that produced the vector
	Vector      []float32 // len(Vector) is the dimension
	ContentHash string    // hash of the text that was embedded, "" if unknown
	UpdatedAt   int64
}

// EncodeVector packs a vector as little-endian float32 bytes, the portable
// form stored in BLOB/bytea columns and in exports.
func EncodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// DecodeVector unpacks bytes written by EncodeVector.
func DecodeVector(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, Errorf(EInvalid, "vector of %d bytes is not a whole number of float32 values", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
