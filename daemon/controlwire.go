package daemon

// The control socket's request and response types, shared by its handlers
// (control.go) and Client (client.go), so the two cannot drift.

// WriteRequest is the body of POST /v1/groves/{grove}/records: writes
// applied in one transaction.
type WriteRequest struct {
	Records []Write `json:"records"`
	Force   bool    `json:"force"`
}

// WriteResponse answers POST /v1/groves/{grove}/records.
type WriteResponse struct {
	Results []WriteResult `json:"results"`
}

// RecordResponse answers GET /v1/groves/{grove}/records/{table}/{id}.
type RecordResponse struct {
	Record *LocalRecord `json:"record"`
}

// RejectionsResponse answers GET /v1/groves/{grove}/rejections.
type RejectionsResponse struct {
	Rejections []Rejection `json:"rejections"`
}

// OKResponse answers the routes that only act: flush, reload (with the
// groves now served) and stop (with the daemon's pid).
type OKResponse struct {
	OK     bool     `json:"ok"`
	Groves []string `json:"groves,omitempty"`
	PID    int      `json:"pid,omitempty"`
}
