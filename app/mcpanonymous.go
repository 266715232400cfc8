package app

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/hyphateam/hypha"
)

// AnonymousMCP keeps each grove's anonymous MCP tier setting in the KV
// store (hypha.MCPAnonymousPrefix + grove). The tier is off unless a grove
// enables it for a list of tools; callers then see only the records the
// grove marks public.
type AnonymousMCP struct {
	Store hypha.Store
}

// Tools returns the tools grove opened to anonymous callers; nil when its
// anonymous tier is off.
func (a *AnonymousMCP) Tools(ctx context.Context, grove string) ([]string, error) {
	e, err := a.Store.KVGet(ctx, hypha.MCPAnonymousPrefix+grove)
	if hypha.ErrorCode(err) == hypha.ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s hypha.MCPAnonymous
	if err := json.Unmarshal(e.Value, &s); err != nil {
		return nil, hypha.WrapError(hypha.EInternal, "read the anonymous MCP setting of grove "+grove, err)
	}
	var tools []string
	for _, t := range s.Tools {
		if slices.Contains(hypha.MCPTools, t) {
			tools = append(tools, t)
		}
	}
	return tools, nil
}

// Set enables the anonymous tier of an existing grove for tools, or turns
// it off when tools is empty. Every name must be an MCP tool.
func (a *AnonymousMCP) Set(ctx context.Context, grove string, tools []string) (*hypha.MCPAnonymous, error) {
	if err := hypha.ValidateGroveID(grove); err != nil {
		return nil, err
	}
	if _, err := a.Store.FindGroveByID(ctx, grove); err != nil {
		if hypha.ErrorCode(err) == hypha.ENotFound {
			return nil, hypha.Errorf(hypha.ENotFound, "grove %q does not exist", grove)
		}
		return nil, err
	}
	var uniq []string
	for _, t := range tools {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !slices.Contains(hypha.MCPTools, t) {
			return nil, hypha.Errorf(hypha.EInvalid, "unknown MCP tool %q (the tools are %s)", t, strings.Join(hypha.MCPTools, ", "))
		}
		if !slices.Contains(uniq, t) {
			uniq = append(uniq, t)
		}
	}
	key := hypha.MCPAnonymousPrefix + grove
	if len(uniq) == 0 {
		return nil, a.Store.KVDelete(ctx, key)
	}
	sort.Strings(uniq)
	s := &hypha.MCPAnonymous{GroveID: grove, Tools: uniq, UpdatedAt: a.Store.Now().Unix()}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if _, err := a.Store.KVPut(ctx, key, b, hypha.KVPutOptions{}); err != nil {
		return nil, err
	}
	return s, nil
}
