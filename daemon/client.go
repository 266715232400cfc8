package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hyphateam/hypha"
	"github.com/hyphateam/hypha/wire"
)

// Client speaks to the daemon of a HYPHA_HOME over its control socket.
type Client struct {
	home Home
	http *http.Client
}

// ErrNotRunning is returned when no daemon answers on the socket.
var ErrNotRunning = errors.New("no hypha daemon is running")

// NewClient returns a client of the daemon of home.
func NewClient(home Home) *Client {
	sock := home.SocketPath()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 16,
	}
	return &Client{home: home, http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// do calls the daemon; a non-2xx answer becomes a *hypha.Error with the
// daemon's code.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hypha-daemon"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return fmt.Errorf("%w (no answer on %s)", ErrNotRunning, c.home.SocketPath())
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var eb wire.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Code == "" {
			return fmt.Errorf("daemon answered %d: %s", resp.StatusCode, truncateText(string(data), 200))
		}
		e := hypha.Errorf(eb.Code, "%s", eb.Error)
		if s, _ := strconv.Atoi(resp.Header.Get("Retry-After")); s > 0 {
			e.RetryAfter = s
		}
		return e
	}
	if out != nil {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		return dec.Decode(out)
	}
	return nil
}

func grovePath(grove string) string { return "/v1/groves/" + url.PathEscape(grove) }

func recordPath(grove, table, id string) string {
	return grovePath(grove) + "/records/" + url.PathEscape(table) + "/" + url.PathEscape(id)
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	return &st, c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// GroveStatus returns one grove's status.
func (c *Client) GroveStatus(ctx context.Context, grove string) (*GroveStatus, error) {
	var st GroveStatus
	return &st, c.do(ctx, http.MethodGet, grovePath(grove)+"/status", nil, &st)
}

// Put writes one record (an upsert) in grove.
func (c *Client) Put(ctx context.Context, grove, table, id string, data map[string]any, force bool) (*WriteResult, error) {
	path := recordPath(grove, table, id)
	if force {
		path += "?force=1"
	}
	var res WriteResult
	return &res, c.do(ctx, http.MethodPut, path, data, &res)
}

// Delete deletes one record of grove; data may carry its project_id.
func (c *Client) Delete(ctx context.Context, grove, table, id string, data map[string]any) (*WriteResult, error) {
	var body any
	if data != nil {
		body = data
	}
	var res WriteResult
	return &res, c.do(ctx, http.MethodDelete, recordPath(grove, table, id), body, &res)
}

// Write applies writes in grove in one transaction.
func (c *Client) Write(ctx context.Context, grove string, writes []Write, force bool) ([]WriteResult, error) {
	var out WriteResponse
	err := c.do(ctx, http.MethodPost, grovePath(grove)+"/records", WriteRequest{Records: writes, Force: force}, &out)
	return out.Results, err
}

// Get returns this machine's local record.
func (c *Client) Get(ctx context.Context, grove, table, id string) (*LocalRecord, error) {
	var out RecordResponse
	return out.Record, c.do(ctx, http.MethodGet, recordPath(grove, table, id), nil, &out)
}

// RemoteRecord reads the team server's record through the daemon, with the
// grove's MCP token; it returns the server's status and body.
func (c *Client) RemoteRecord(ctx context.Context, grove, typ, id string) (int, json.RawMessage, error) {
	return c.remote(ctx, grovePath(grove)+"/remote/records/"+url.PathEscape(typ)+"/"+url.PathEscape(id))
}

// RemoteSearch runs the team server's /search through the daemon.
func (c *Client) RemoteSearch(ctx context.Context, grove string, q url.Values) (int, json.RawMessage, error) {
	return c.remote(ctx, grovePath(grove)+"/remote/search?"+q.Encode())
}

func (c *Client) remote(ctx context.Context, path string) (int, json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://hypha-daemon"+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if resp.Header.Get("X-Hypha-Remote-Status") == "" { // the daemon's own error
		var eb wire.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Code != "" {
			return 0, nil, hypha.Errorf(eb.Code, "%s", eb.Error)
		}
	}
	return resp.StatusCode, data, nil
}

// Rejections lists the latest records the server refused in grove.
func (c *Client) Rejections(ctx context.Context, grove string, limit int) ([]Rejection, error) {
	var out RejectionsResponse
	return out.Rejections, c.do(ctx, http.MethodGet, grovePath(grove)+"/rejections?limit="+strconv.Itoa(limit), nil, &out)
}

// Flush asks the daemon to send grove's outbox now.
func (c *Client) Flush(ctx context.Context, grove string) error {
	return c.do(ctx, http.MethodPost, grovePath(grove)+"/flush", nil, nil)
}

// Reload makes the daemon re-read groves, settings and tokens.
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reload", nil, nil)
}

// Stop asks the daemon to stop and returns its pid.
func (c *Client) Stop(ctx context.Context) (int, error) {
	var out OKResponse
	return out.PID, c.do(ctx, http.MethodPost, "/v1/stop", nil, &out)
}

// WaitStopped waits until no daemon holds home's lock.
func WaitStopped(ctx context.Context, home Home) error {
	for {
		if _, held := lockHolder(home.LockPath()); !held {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Running reports whether a daemon holds home's lock, and its pid.
func Running(home Home) (pid int, running bool) { return lockHolder(home.LockPath()) }
