package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestSDKNullArguments pins the go-sdk behaviour that decodeArgs
// (server.go) and Service.Call (call.go) work around: a tools/call whose
// "arguments" is JSON null, sent to a tool registered on the SDK's own typed
// path (mcp.AddTool) whose input schema has a default, panics inside the SDK
// ("assignment to entry in nil map": the null decodes to a nil map, and the
// schema's defaults are written into it). Our tools decode their own
// arguments and read null as {}, so they answer instead. The same root
// cause (jsonschema-go's ApplyDefaults writing into a nil map) on the
// elicitation path is go-sdk issue #1062
// (https://github.com/modelcontextprotocol/go-sdk/issues/1062); no upstream
// issue for the tools/call path was found when this test was written.
//
// When this test fails, the SDK no longer panics on null arguments: check
// what it does instead, and if it reads null as {}, decodeArgs can go back to
// the typed path and the null check in Service.Call can be dropped.
func TestSDKNullArguments(t *testing.T) {
	type in struct {
		Limit int `json:"limit"`
	}
	type out struct {
		Limit int `json:"limit"`
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "sdk-null", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{
		Name: "echo_limit",
		InputSchema: &jsonschema.Schema{
			Type: "object",
			Properties: map[string]*jsonschema.Schema{
				"limit": {Type: "integer", Default: json.RawMessage(`20`)},
			},
		},
	}, func(_ context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, out, error) {
		return nil, out(a), nil
	})
	// The panic happens in the server's goroutine: without this, it would
	// end the test binary. Receiving middleware runs the handler on the same
	// goroutine, so a recover here turns it into the call's error.
	server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panic in %s: %v", method, p)
				}
			}()
			return next(ctx, method, req)
		}
	})
	ctx := context.Background()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := server.Connect(ctx, st, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "hypha-test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })

	t.Run("empty object gets the default", func(t *testing.T) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo_limit", Arguments: json.RawMessage(`{}`)})
		if err != nil || res.IsError {
			t.Fatalf("call with {}: %v %+v", err, res)
		}
		if b, _ := json.Marshal(res.StructuredContent); string(b) != `{"limit":20}` {
			t.Fatalf("call with {}: structured content %s, want {\"limit\":20}", b)
		}
	})
	t.Run("null panics in the SDK", func(t *testing.T) {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo_limit", Arguments: json.RawMessage(`null`)})
		if err == nil || !strings.Contains(err.Error(), "assignment to entry in nil map") {
			t.Fatalf("call with null arguments: err %v, result %+v: the SDK no longer panics on null "+
				"arguments; see this test's comment: the workaround in decodeArgs and Service.Call may go", err, res)
		}
	})
}
