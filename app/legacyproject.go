package app

import (
	"strings"

	"github.com/hyphateam/hypha"
)

// legacyProtocolBelow is the first sync protocol whose clients must name
// a project: rows of older clients (Myco 0.12.x, protocol 1, and protocol
// 2) are filed in a derived project instead of being rejected.
const legacyProtocolBelow = 3

// legacyProject files an upsert of a protocol 1 or 2 client, which the
// 0.12 worker stored whatever its project_id (see hypha.LegacyProjectID):
//
//   - a project_id of the form proj_<32 hex> is kept;
//   - any other non-blank string in project_id is taken as a project root:
//     daemons of that era put the root there (reference §5.8), so the row
//     joins the project its root derives, the same one as the rows that
//     carry that root in project_root;
//   - otherwise the row's project_root (sessions) derives the project;
//   - without either (null, absent, blank, or not a string), the grove's
//     default project.
//
// name is "" for a kept project id and the derived project's name
// otherwise.
func legacyProject(grove string, data map[string]any) (id, name string, err error) {
	root := ""
	switch pid := data[hypha.ColProject].(type) {
	case string:
		if hypha.ProjectIDPattern.MatchString(pid) {
			return pid, "", nil
		}
		root = pid
	}
	if strings.TrimSpace(root) == "" {
		root, _ = data["project_root"].(string)
	}
	// The root names the project, so it must be text every engine stores.
	if !hypha.ValidText(root) {
		return "", "", hypha.Errorf(hypha.EInvalid, "the project root %q is not UTF-8 text without NUL", truncateID(root))
	}
	return hypha.LegacyProjectID(grove, root), hypha.LegacyProjectName(root), nil
}
