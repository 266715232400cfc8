-- Sharing between groves (PRODUCT.md, security model). A record of a
-- shareable table carries its grove's sharing policy: NULL or "private"
-- keeps it in its grove, "cross_grove" shows it to the groves its grove
-- granted access, "public" also to the anonymous MCP tier when its grove
-- enables that. Columns first, nullable, so older binaries keep working.
-- +hypha add-column sessions sharing_policy TEXT COLLATE "C"
-- +hypha add-column spores sharing_policy TEXT COLLATE "C"
-- +hypha add-column plans sharing_policy TEXT COLLATE "C"
-- +hypha add-column artifacts sharing_policy TEXT COLLATE "C"
-- +hypha add-column digest_extracts sharing_policy TEXT COLLATE "C"
-- +hypha add-column skill_records sharing_policy TEXT COLLATE "C"

-- grove_grants: grantor_grove_id shares its cross_grove records with
-- grantee_grove_id. Managed by the operator for now (hypha grove share),
-- by the collective later.
CREATE TABLE IF NOT EXISTS grove_grants (
    grantor_grove_id TEXT COLLATE "C" NOT NULL,
    grantee_grove_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (grantee_grove_id, grantor_grove_id)
);
