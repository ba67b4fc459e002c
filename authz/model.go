package authz

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/casbin/casbin/v2/model"
)

// modelText is the casbin model: RBAC with domains (domain = tenant),
// keyMatch on objects, "*" as a wildcard action.
//
//go:embed model.conf
var modelText string

// newModel parses the embedded model; each enforcer needs its own copy.
func newModel() (model.Model, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("authz: embedded casbin model: %w", err)
	}
	return m, nil
}

// Default roles. A tenant may define more in its policy lines.
const (
	RoleAdmin      = "admin"
	RoleSupervisor = "supervisor"
	RoleAgent      = "agent"
	RoleIntegrator = "integrator"
)

// Policy actions.
const (
	ActRead  = "read"  // see something (element kinds, channels/all, admin lists)
	ActWrite = "write" // change something (admin objects, queue/manage)
	ActUse   = "use"   // use a capability (full_events, privacy/bypass)
	ActOwn   = "own"   // run a command on the principal's own calls/terminals
	ActAny   = "any"   // run a command on any call of the tenant (implies own)
)

// Policy objects. Element kinds are "element/<kind>", commands
// "command/<name>", administration "admin/<what>".
const (
	ObjChannelsAll   = "channels/all"   // read: see every channel of the tenant, not only own
	ObjFullEvents    = "full_events"    // use: may connect with full_events=true (whole tenant)
	ObjPrivacyBypass = "privacy/bypass" // use: numbers in clear even when the tenant masks them
	ObjQueueManage   = "queue/manage"   // write: queue member login/logout/pause of any agent
	ObjAdminPBXes    = "admin/pbxes"
	ObjAdminUsers    = "admin/users"
	ObjAdminTokens   = "admin/tokens"
	ObjAdminPolicies = "admin/policies"
	ObjAdminAudit    = "admin/audit"
)

// ElementObject returns the policy object of an element kind.
func ElementObject(kind string) string { return "element/" + kind }

// CommandObject returns the policy object of a command (canonical name).
func CommandObject(cmd string) string { return "command/" + cmd }

// Element kinds of the live model (DESIGN §3), in bit order of a Scope.
var elementKinds = [...]string{
	"channel", "queued_channel", "parked_channel", "user", "group",
	"group_member", "terminal", "pbx",
}

// channelLike marks the kinds whose events carry an audience and are
// filtered by channel visibility (own or all).
const channelLike = 1<<0 | 1<<1 | 1<<2

// Commands (canonical names). Policy objects are "command/<name>" with
// action own or any. Aliases (unhold, unmute, record_stop …) map onto these
// in commandAliases.
const (
	CmdOriginate   = "originate"
	CmdAnswer      = "answer"
	CmdHangup      = "hangup"
	CmdHold        = "hold" // hold, unhold
	CmdTransfer    = "transfer"
	CmdAtxfer      = "atxfer" // attended transfer start/complete/cancel
	CmdPark        = "park"
	CmdPickup      = "pickup" // parked or queued call
	CmdDTMF        = "dtmf"
	CmdMute        = "mute" // mute, unmute
	CmdSpy         = "spy"
	CmdWhisper     = "whisper"
	CmdBarge       = "barge"
	CmdRecord      = "record"       // start, stop
	CmdQueueMember = "queue_member" // login, logout, pause, unpause
	CmdPresence    = "presence"     // presence, dnd
)

// commands lists the canonical commands in bit order of a Scope.
var commands = [...]string{
	CmdOriginate, CmdAnswer, CmdHangup, CmdHold, CmdTransfer, CmdAtxfer,
	CmdPark, CmdPickup, CmdDTMF, CmdMute, CmdSpy, CmdWhisper, CmdBarge,
	CmdRecord, CmdQueueMember, CmdPresence,
}

// commandAliases maps request names that share a right onto the canonical
// command.
var commandAliases = map[string]string{
	"unhold": CmdHold, "unmute": CmdMute,
	"atxfer_start": CmdAtxfer, "atxfer_complete": CmdAtxfer, "atxfer_cancel": CmdAtxfer,
	"record_start": CmdRecord, "record_stop": CmdRecord,
	"queue_login": CmdQueueMember, "queue_logout": CmdQueueMember,
	"queue_pause": CmdQueueMember, "queue_unpause": CmdQueueMember,
	"login": CmdQueueMember, "logout": CmdQueueMember,
	"pause": CmdQueueMember, "unpause": CmdQueueMember,
	"dnd": CmdPresence, "set_presence": CmdPresence, "set_dnd": CmdPresence,
}

// commandIndex returns the bit of a command name or alias, or -1.
func commandIndex(name string) int {
	if c, ok := commandAliases[name]; ok {
		name = c
	}
	for i, c := range commands {
		if c == name {
			return i
		}
	}
	return -1
}

// objectActions is the catalog of known objects and the actions each
// accepts. Policy validation rejects anything else.
var objectActions = func() map[string][]string {
	m := map[string][]string{
		ObjChannelsAll:   {ActRead},
		ObjFullEvents:    {ActUse},
		ObjPrivacyBypass: {ActUse},
		ObjQueueManage:   {ActWrite},
		ObjAdminPBXes:    {ActRead, ActWrite},
		ObjAdminUsers:    {ActRead, ActWrite},
		ObjAdminTokens:   {ActRead, ActWrite},
		ObjAdminPolicies: {ActRead, ActWrite},
		ObjAdminAudit:    {ActRead},
	}
	for _, k := range elementKinds {
		m[ElementObject(k)] = []string{ActRead}
	}
	for _, c := range commands {
		m[CommandObject(c)] = []string{ActOwn, ActAny}
	}
	return m
}()

// Subjects. A policy or grouping line names either a role (a bare name such
// as "agent") or one principal: a user ("user:<id>") or an API token
// ("token:<id>").
const (
	userSubjectPrefix  = "user:"
	tokenSubjectPrefix = "token:"
)

// UserSubject is the casbin subject of a user id.
func UserSubject(userID string) string { return userSubjectPrefix + userID }

// TokenSubject is the casbin subject of an API token id.
func TokenSubject(tokenID string) string { return tokenSubjectPrefix + tokenID }

// DefaultRoles are the roles every tenant starts with.
var DefaultRoles = []string{RoleAdmin, RoleSupervisor, RoleAgent, RoleIntegrator}

// DefaultPolicies returns the starting policy lines of a tenant, each
// {"p", role, domain, object, action}. docs/security.md shows them as a
// table; keep the two in step.
//
//   - admin: every element kind (incl. pbx), full_events, privacy/bypass,
//     any command, queue management, all administration. Like Basix, an
//     admin session sees its own channels unless it connects with
//     full_events=true.
//   - supervisor: every element kind but pbx, all channels of the tenant,
//     own-call commands, spy/whisper/barge/pickup on any call, queue
//     management.
//   - agent: every element kind but pbx, own channels, own-call commands.
//   - integrator: every element kind but pbx, all channels, full_events,
//     privacy/bypass (a CRM needs numbers to match customers), any command,
//     queue management.
func DefaultPolicies(domain string) [][]string {
	p := func(role, obj, act string) []string { return []string{"p", role, domain, obj, act} }
	userKinds := elementKinds[:len(elementKinds)-1] // all but pbx
	var out [][]string

	out = append(out,
		p(RoleAdmin, "element/*", ActRead),
		p(RoleAdmin, ObjFullEvents, ActUse),
		p(RoleAdmin, ObjPrivacyBypass, ActUse),
		p(RoleAdmin, "command/*", ActAny),
		p(RoleAdmin, ObjQueueManage, ActWrite),
		p(RoleAdmin, "admin/*", "*"),
	)

	for _, k := range userKinds {
		out = append(out, p(RoleSupervisor, ElementObject(k), ActRead))
	}
	out = append(out,
		p(RoleSupervisor, ObjChannelsAll, ActRead),
		p(RoleSupervisor, "command/*", ActOwn),
		p(RoleSupervisor, CommandObject(CmdSpy), ActAny),
		p(RoleSupervisor, CommandObject(CmdWhisper), ActAny),
		p(RoleSupervisor, CommandObject(CmdBarge), ActAny),
		p(RoleSupervisor, CommandObject(CmdPickup), ActAny),
		p(RoleSupervisor, ObjQueueManage, ActWrite),
	)

	for _, k := range userKinds {
		out = append(out, p(RoleAgent, ElementObject(k), ActRead))
	}
	out = append(out, p(RoleAgent, "command/*", ActOwn))

	for _, k := range userKinds {
		out = append(out, p(RoleIntegrator, ElementObject(k), ActRead))
	}
	out = append(out,
		p(RoleIntegrator, ObjChannelsAll, ActRead),
		p(RoleIntegrator, ObjFullEvents, ActUse),
		p(RoleIntegrator, ObjPrivacyBypass, ActUse),
		p(RoleIntegrator, "command/*", ActAny),
		p(RoleIntegrator, ObjQueueManage, ActWrite),
	)
	return out
}

// CheckTenant validates a tenant domain as used for a casbin domain: 1 to
// 253 bytes of lower-case letters, digits, dots and hyphens. authz does not
// import package tenant; callers pass tenant.ID values converted to string.
func CheckTenant(t string) error {
	if t == "" || len(t) > 253 {
		return fmt.Errorf("%w: %q must be 1 to 253 characters", ErrInvalidTenant, t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("%w: %q may hold only lower-case letters, digits, dots and hyphens", ErrInvalidTenant, t)
		}
	}
	return nil
}

// isRoleName reports whether s is a valid role name: a lower-case letter
// followed by up to 31 lower-case letters, digits, '_' or '-'.
func isRoleName(s string) bool {
	if s == "" || len(s) > 32 || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isPrincipalSubject reports whether s is "user:<id>" or "token:<id>" with
// an id of 1 to 128 visible ASCII characters other than ','.
func isPrincipalSubject(s string) bool {
	var id string
	switch {
	case strings.HasPrefix(s, userSubjectPrefix):
		id = s[len(userSubjectPrefix):]
	case strings.HasPrefix(s, tokenSubjectPrefix):
		id = s[len(tokenSubjectPrefix):]
	default:
		return false
	}
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' || id[i] == ',' {
			return false
		}
	}
	return true
}
