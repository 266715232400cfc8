package mcp_test

// seed writes the same set of records into a grove, every text marked with
// marker so a test can tell which grove a row came from. Two groves seeded
// with the same ids are the basis of the grove attack matrix.
func (e *env) seed(grove, marker string) {
	e.t.Helper()
	e.mustIngest(grove,
		rec{"plans", "plan-1", "m1", map[string]any{"title": marker + " rollout plan", "content": marker + " plan: " + long(600),
			"status": "active", "session_id": "sess-1", "author": "ana", "created_at": 100, "updated_at": 300, "logical_key": "rollout"}},
		rec{"plans", "plan-2", "m1", map[string]any{"title": marker + " cleanup", "content": marker + " cleanup plan",
			"status": "done", "session_id": "sess-2", "created_at": 200, "updated_at": 200}},
		rec{"sessions", "sess-1", "m1", map[string]any{"agent": "claude", "user": "ana", "branch": "main", "status": "completed",
			"title": marker + " session one", "summary": marker + " summary " + long(400), "started_at": 1_000, "ended_at": 2_000,
			"prompt_count": 3, "tool_count": 7}},
		rec{"sessions", "sess-2", "m2", map[string]any{"agent": "cursor", "user": "bo", "branch": "feature", "status": "active",
			"title": marker + " session two", "summary": marker + " second", "started_at": 1_780_000_000}},
		rec{"skill_records", "skill-1", "m1", map[string]any{"name": "deploy", "display_name": marker + " Deploy", "description": marker + " deploys the service",
			"usage_count": 5, "created_at": 10}},
		rec{"skill_records", "skill-2", "m1", map[string]any{"name": "test", "display_name": marker + " Test", "description": marker + " runs the tests",
			"usage_count": 9, "created_at": 20}},
		rec{"spores", "spore-1", "m1", map[string]any{"content": marker + " the migration lock times out under load", "status": "active",
			"observation_type": "gotcha", "agent_id": "agent-a", "session_id": "sess-1", "importance": 8, "created_at": 1_000}},
		rec{"spores", "spore-2", "m1", map[string]any{"content": marker + " use 100% of the pool_size", "status": "active",
			"observation_type": "decision", "agent_id": "agent-b", "created_at": 2_000}},
		rec{"spores", "spore-3", "m2", map[string]any{"content": marker + " superseded note", "status": "superseded",
			"observation_type": "gotcha", "agent_id": "agent-a", "created_at": 3_000}},
		rec{"digest_extracts", "digest-old", "m1", map[string]any{"tier": 5000, "content": marker + " old digest", "generated_at": 10}},
		rec{"digest_extracts", "digest-new", "m1", map[string]any{"tier": 5000, "content": marker + " new digest", "generated_at": 20}},
		rec{"digest_extracts", "digest-small", "m1", map[string]any{"tier": 1500, "content": marker + " small digest", "generated_at": 30}},
		rec{"artifacts", "art-1", "m1", map[string]any{"title": marker + " runbook", "content": marker + " runbook text", "source_path": "docs/run.md"}},
	)
}

// long returns n characters of filler text.
func long(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefghij"[i%10]
	}
	return string(b)
}
