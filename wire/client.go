package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hyphateam/hypha"
)

// MaxAnswerBytes caps how much of an answer the client reads.
const MaxAnswerBytes = 16 << 20

// Client calls one team server. It is a value: WithToken and WithGrove
// return copies, so one client serves several credentials and groves.
// Deadlines come from the context of each call.
type Client struct {
	BaseURL   string       // e.g. http://127.0.0.1:8787, without a trailing slash
	HTTP      *http.Client // nil: http.DefaultClient
	Token     string       // sent as Authorization: Bearer; "" sends none
	GroveID   string       // sent as X-Grove-ID when set
	DaemonID  string       // sent as X-Daemon-ID when set
	UserAgent string
}

// WithToken returns a copy of c that authenticates with token.
func (c Client) WithToken(token string) *Client { c.Token = token; return &c }

// WithGrove returns a copy of c that acts in grove.
func (c Client) WithGrove(grove string) *Client { c.GroveID = grove; return &c }

// Error is an answer other than 2xx: the status, the body's stable code and
// message, Retry-After, and the server's protocol window on a protocol
// refusal.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // 0 when absent
	// ServerProtocol and ServerMinProtocol come with a 409 protocol error.
	ServerProtocol, ServerMinProtocol int
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, msg)
	}
	return fmt.Sprintf("%d: %s", e.Status, msg)
}

// ProtocolMismatch reports whether the server refused the client's sync
// protocol version.
func (e *Error) ProtocolMismatch() bool {
	return e.Status == http.StatusConflict && IsProtocolCode(e.Code)
}

// Health reads GET /health. A 503 (schema not ready) is an *Error.
func (c *Client) Health(ctx context.Context) (*HealthResponse, error) {
	return call[HealthResponse](ctx, c, http.MethodGet, "/health", nil)
}

// Connect registers a machine in the grove and gets an MCP token.
func (c *Client) Connect(ctx context.Context, req ConnectRequest) (*ConnectResponse, error) {
	return call[ConnectResponse](ctx, c, http.MethodPost, "/connect", req)
}

// Enqueue pushes one batch of SyncRecords.
func (c *Client) Enqueue(ctx context.Context, req EnqueueRequest) (*EnqueueResponse, error) {
	return call[EnqueueResponse](ctx, c, http.MethodPost, "/enqueue", req)
}

// Sync pushes one batch through the legacy POST /sync.
func (c *Client) Sync(ctx context.Context, req EnqueueRequest) (*SyncResponse, error) {
	return call[SyncResponse](ctx, c, http.MethodPost, "/sync", req)
}

// Record reads one record; machineID may be "".
func (c *Client) Record(ctx context.Context, typ, id, machineID string) (*RecordResponse, error) {
	p := "/records/" + url.PathEscape(typ) + "/" + url.PathEscape(id)
	if machineID != "" {
		p += "?" + url.Values{"machine_id": {machineID}}.Encode()
	}
	return call[RecordResponse](ctx, c, http.MethodGet, p, nil)
}

// ManifestQuery selects a page of GET /manifest.
type ManifestQuery struct {
	Table, MachineID, ProjectID, Cursor string
	Limit                               int
	Summary                             bool
}

// Manifest reads one manifest page.
func (c *Client) Manifest(ctx context.Context, q ManifestQuery) (*ManifestResponse, error) {
	v := url.Values{"table": {q.Table}, "machine_id": {q.MachineID}}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("project_id", q.ProjectID)
	set("cursor", q.Cursor)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Summary {
		v.Set("summary", "1")
	}
	return call[ManifestResponse](ctx, c, http.MethodGet, "/manifest?"+v.Encode(), nil)
}

// Config reads the team configuration.
func (c *Client) Config(ctx context.Context) (*ConfigResponse, error) {
	return call[ConfigResponse](ctx, c, http.MethodGet, "/config", nil)
}

// PutConfig sets team configuration keys.
func (c *Client) PutConfig(ctx context.Context, u ConfigUpdate) (*ConfigUpdateResponse, error) {
	return call[ConfigUpdateResponse](ctx, c, http.MethodPut, "/config", u)
}

// SyncSummary counts the grove's rows, and one machine's when machineID is
// set.
func (c *Client) SyncSummary(ctx context.Context, machineID string) (*SyncSummaryResponse, error) {
	p := "/sync-summary"
	if machineID != "" {
		p += "?" + url.Values{"machine_id": {machineID}}.Encode()
	}
	return call[SyncSummaryResponse](ctx, c, http.MethodGet, p, nil)
}

// Members lists the grove's team_members rows.
func (c *Client) Members(ctx context.Context) (*MembersResponse, error) {
	return call[MembersResponse](ctx, c, http.MethodGet, "/members", nil)
}

// RemoveMember deletes one machine's team_members rows.
func (c *Client) RemoveMember(ctx context.Context, machineID string) (*RemoveMemberResponse, error) {
	return call[RemoveMemberResponse](ctx, c, http.MethodDelete, "/members/"+url.PathEscape(machineID), nil)
}

// Rebuild deletes every row of one machine in the grove.
func (c *Client) Rebuild(ctx context.Context, machineID string) (*RebuildResponse, error) {
	return call[RebuildResponse](ctx, c, http.MethodPost, "/rebuild", RebuildRequest{MachineID: machineID})
}

// QueueStats reads the grove's queue counters.
func (c *Client) QueueStats(ctx context.Context) (*QueueStats, error) {
	return call[QueueStats](ctx, c, http.MethodGet, "/queue-stats", nil)
}

// DeadLetters lists up to limit dead letters (0: the server's default).
func (c *Client) DeadLetters(ctx context.Context, limit int) (*DeadLettersResponse, error) {
	p := "/dlq"
	if limit > 0 {
		p += "?limit=" + strconv.Itoa(limit)
	}
	return call[DeadLettersResponse](ctx, c, http.MethodGet, p, nil)
}

// RetryDeadLetters puts dead letters back on the queue.
func (c *Client) RetryDeadLetters(ctx context.Context, leaseIDs []string) (*RetryResponse, error) {
	return call[RetryResponse](ctx, c, http.MethodPost, "/dlq/retry", leaseBody(leaseIDs))
}

// DiscardDeadLetters deletes dead letters.
func (c *Client) DiscardDeadLetters(ctx context.Context, leaseIDs []string) (*DiscardResponse, error) {
	return call[DiscardResponse](ctx, c, http.MethodPost, "/dlq/discard", leaseBody(leaseIDs))
}

func leaseBody(ids []string) LeaseIDsRequest {
	out := LeaseIDsRequest{LeaseIDs: make([]any, len(ids))}
	for i, id := range ids {
		out.LeaseIDs[i] = id
	}
	return out
}

// Reindex queues the embeddable rows of one table ("" : every table) for
// embedding.
func (c *Client) Reindex(ctx context.Context, table string) (*ReindexResponse, error) {
	var req ReindexRequest
	if table != "" {
		req.Table = &table
	}
	return call[ReindexResponse](ctx, c, http.MethodPost, "/vectors/reindex", req)
}

// Search runs GET /search with the worker's query parameters (q, limit,
// types, the metadata filters, since, until, mode).
func (c *Client) Search(ctx context.Context, params url.Values) (*SearchResponse, error) {
	return call[SearchResponse](ctx, c, http.MethodGet, "/search?"+params.Encode(), nil)
}

// RotateMCP rotates the grove's MCP tokens and returns the new shared one.
func (c *Client) RotateMCP(ctx context.Context) (*RotateMCPResponse, error) {
	return call[RotateMCPResponse](ctx, c, http.MethodPost, "/mcp/rotate", struct{}{})
}

// Credentials lists the Team Keys and the MCP tokens (of one grove when
// grove is set), never their secrets.
func (c *Client) Credentials(ctx context.Context, grove string) (*CredentialsResponse, error) {
	p := "/org/credentials"
	if grove != "" {
		p += "?" + url.Values{"grove_id": {grove}}.Encode()
	}
	return call[CredentialsResponse](ctx, c, http.MethodGet, p, nil)
}

// ValidateTeamKey explains the client's Team Key. The answer comes with
// every status, so it is returned with the *Error of a refused key.
func (c *Client) ValidateTeamKey(ctx context.Context) (*ValidateTeamKeyResponse, error) {
	var out ValidateTeamKeyResponse
	data, err := c.Do(ctx, http.MethodGet, "/validate-team-key", nil)
	if len(data) > 0 {
		if jerr := json.Unmarshal(data, &out); jerr != nil && err == nil {
			return nil, fmt.Errorf("GET /validate-team-key: the answer is not the expected JSON: %v", jerr)
		}
	}
	return &out, err
}

// MCPCall runs one MCP method through POST /mcp/call and returns the
// tool's structured result.
func (c *Client) MCPCall(ctx context.Context, method string, params any) (json.RawMessage, error) {
	req := MCPCallRequest{Method: method}
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		req.Params = b
	}
	data, err := c.Do(ctx, http.MethodPost, "/mcp/call", req)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// CollectiveStatus reads GET /collective/status.
func (c *Client) CollectiveStatus(ctx context.Context) (*CollectiveStatus, error) {
	return call[CollectiveStatus](ctx, c, http.MethodGet, "/collective/status", nil)
}

// CollectiveSettings reads GET /collective/settings.
func (c *Client) CollectiveSettings(ctx context.Context) (*CollectiveSettings, error) {
	return call[CollectiveSettings](ctx, c, http.MethodGet, "/collective/settings", nil)
}

// CollectiveQuery runs one collective tool and returns its raw answer.
func (c *Client) CollectiveQuery(ctx context.Context, q CollectiveQuery) (json.RawMessage, error) {
	return c.Do(ctx, http.MethodPost, "/collective/query", q)
}

// SetProviderToken stores the provider API key the server calls out with.
func (c *Client) SetProviderToken(ctx context.Context, req ProviderTokenRequest) (*ProviderTokenResponse, error) {
	return call[ProviderTokenResponse](ctx, c, http.MethodPost, "/tokens/cf-api", req)
}

// DeleteProviderToken removes the stored provider API key.
func (c *Client) DeleteProviderToken(ctx context.Context) (*ProviderTokenResponse, error) {
	return call[ProviderTokenResponse](ctx, c, http.MethodDelete, "/tokens/cf-api", nil)
}

// call sends one request and decodes a 2xx answer into a fresh T.
func call[T any](ctx context.Context, c *Client, method, path string, body any) (*T, error) {
	data, err := c.Do(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s %s: the answer is not the expected JSON: %v", method, stripQuery(path), err)
	}
	return &out, nil
}

// Do sends one request with the client's headers (body, when not nil, as
// JSON) and returns the answer's body. A non-2xx answer is an *Error, with
// the body still returned; failing to reach the server is a plain error.
func (c *Client) Do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.Send(ctx, method, path, rd)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, c.BaseURL+stripQuery(path), err)
	}
	if resp.StatusCode/100 != 2 {
		return data, ErrorOf(resp, data)
	}
	return data, nil
}

// Send sends one request with the client's headers and returns the
// response as it came, whatever its status; the caller closes its body. A
// non-nil body is sent as JSON.
func (c *Client) Send(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.GroveID != "" {
		req.Header.Set(HeaderGrove, c.GroveID)
	}
	if c.DaemonID != "" {
		req.Header.Set(HeaderDaemon, c.DaemonID)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, c.BaseURL+stripQuery(path), err)
	}
	return resp, nil
}

// ErrorOf reads a non-2xx answer as an *Error.
func ErrorOf(resp *http.Response, data []byte) *Error {
	e := &Error{Status: resp.StatusCode, RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var body ErrorBody
	if json.Unmarshal(data, &body) == nil && (body.Code != "" || body.Error != "") {
		e.Code, e.Message = body.Code, body.Message
		if e.Message == "" {
			e.Message = body.Error
		}
		if e.Code == "" && IsProtocolCode(body.Error) {
			e.Code = body.Error // the Myco worker's typed 409 had no code
		}
		e.ServerProtocol, e.ServerMinProtocol = body.SyncProtocolVersion, body.MinCompatClientVersion
	} else {
		e.Message = hypha.Clip(strings.TrimSpace(string(data)))
	}
	return e
}

// ParseRetryAfter reads Retry-After as seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// AsError returns err's *Error, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

func stripQuery(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}
