-- Loading one tenant's policy selects p lines by v1 (the domain) and g lines
-- by v2 (see authz.PGAdapter): without these indexes every tenant's load
-- scans the policy lines of every tenant.

-- +goose Up
CREATE INDEX casbin_rule_p_domain ON casbin_rule (v1) WHERE ptype LIKE 'p%';
CREATE INDEX casbin_rule_g_domain ON casbin_rule (v2) WHERE ptype LIKE 'g%';

-- +goose Down
DROP INDEX casbin_rule_g_domain;
DROP INDEX casbin_rule_p_domain;
