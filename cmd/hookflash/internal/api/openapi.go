package api

import (
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookflash/hookflash/tenant"
)

// operation documents one REST route. The table below is the source of the
// OpenAPI document; a test checks it against the routes fiber registered,
// so a route cannot exist undocumented or be documented but missing.
type operation struct {
	Method, Path string // fiber path, e.g. /api/v1/users/:id
	Summary      string
	Tag          string
	Auth         string // "", "any", "platform", "tenant"
	Request      any    // a value whose type is the JSON body, or nil
	Response     any    // a value whose type is the 2xx JSON body, or nil
	Status       int    // success status (default 200)
	Query        []param
}

type param struct{ Name, Desc string }

var (
	opsMu      sync.Mutex
	extraOps   []operation
	openapiDoc []byte
)

// documentOps adds operations from other files (call control) to the table.
func documentOps(ops ...operation) {
	opsMu.Lock()
	defer opsMu.Unlock()
	extraOps = append(extraOps, ops...)
}

type errorBody struct {
	Error Error `json:"error"`
}

func baseOps() []operation {
	type list[T any] map[string][]T
	return []operation{
		{Method: "GET", Path: "/", Summary: "the operator console (HTML; static files under /console/ and the JS SDK under /sdk/)", Tag: "operations"},
		{Method: "GET", Path: "/healthz", Summary: "process is up", Tag: "operations", Response: map[string]string{}},
		{Method: "GET", Path: "/readyz", Summary: "every dependency (store, broker) is reachable; 503 otherwise", Tag: "operations", Response: map[string]any{}},
		{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics (text exposition format)", Tag: "operations"},
		{Method: "GET", Path: "/api/v1/openapi.json", Summary: "this document", Tag: "operations"},
		{Method: "POST", Path: "/api/v1/auth/login", Summary: "user login (domain, username or user@domain or extension, password) → session token; rate-limited (429)", Tag: "auth", Request: loginRequest{}, Response: struct {
			Token     string      `json:"token"`
			ExpiresAt time.Time   `json:"expires_at"`
			User      tenant.User `json:"user"`
		}{}},
		{Method: "POST", Path: "/api/v1/auth/logout", Summary: "end the caller's session; its sockets close (4003) on every replica", Tag: "auth", Auth: "tenant", Status: 204},
		{Method: "GET", Path: "/api/v1/auth/me", Summary: "who the credentials belong to", Tag: "auth", Auth: "any", Response: map[string]string{}},
		{Method: "GET", Path: "/api/v1/ws", Summary: "the event feed (WebSocket upgrade); see docs/protocol.md", Tag: "feed", Auth: "tenant", Status: 101, Query: []param{
			{"token", "credential for browsers (or Authorization: Bearer / Basic domain:token)"},
			{"full_events", "true: the whole tenant (where the policy grants it)"},
			{"since", "<epoch>:<seq> to resume"}, {"encoding", "json (default) or msgpack"},
			{"force", "true: replace the oldest connection when at the cap"}, {"batch", "true: coalesce messages into one frame"}}},

		{Method: "GET", Path: "/api/v1/tenants", Summary: "list tenants", Tag: "tenants", Auth: "platform", Response: list[tenant.Tenant]{}},
		{Method: "POST", Path: "/api/v1/tenants", Summary: "create a tenant (and optionally its first admin)", Tag: "tenants", Auth: "platform", Request: tenantBody{}, Response: map[string]any{}, Status: 201},
		{Method: "GET", Path: "/api/v1/tenants/:id", Summary: "get a tenant", Tag: "tenants", Auth: "platform", Response: tenant.Tenant{}},
		{Method: "PATCH", Path: "/api/v1/tenants/:id", Summary: "change name, limits, privacy rule, disabled", Tag: "tenants", Auth: "platform", Request: tenantBody{}, Response: tenant.Tenant{}},
		{Method: "DELETE", Path: "/api/v1/tenants/:id", Summary: "delete a tenant and all its data", Tag: "tenants", Auth: "platform", Status: 204},

		{Method: "GET", Path: "/api/v1/pbxes", Summary: "list PBX connections (secrets never returned)", Tag: "pbxes", Auth: "tenant", Response: list[tenant.PBX]{}},
		{Method: "POST", Path: "/api/v1/pbxes", Summary: "add a PBX; its connector starts within seconds", Tag: "pbxes", Auth: "tenant", Request: pbxBody{}, Response: tenant.PBX{}, Status: 201},
		{Method: "GET", Path: "/api/v1/pbxes/:id", Summary: "get a PBX", Tag: "pbxes", Auth: "tenant", Response: tenant.PBX{}},
		{Method: "PATCH", Path: "/api/v1/pbxes/:id", Summary: "change a PBX (empty secrets keep the stored ones); its connector restarts", Tag: "pbxes", Auth: "tenant", Request: pbxBody{}, Response: tenant.PBX{}},
		{Method: "DELETE", Path: "/api/v1/pbxes/:id", Summary: "remove a PBX; its connector stops", Tag: "pbxes", Auth: "tenant", Status: 204},
		{Method: "POST", Path: "/api/v1/pbxes/:id/test", Summary: "try the ARI and AMI connections and report what failed", Tag: "pbxes", Auth: "tenant", Response: map[string]any{}},

		{Method: "GET", Path: "/api/v1/users", Summary: "list users", Tag: "users", Auth: "tenant", Response: list[tenant.User]{}},
		{Method: "POST", Path: "/api/v1/users", Summary: "create a user with role and terminals", Tag: "users", Auth: "tenant", Request: userBody{}, Response: tenant.User{}, Status: 201},
		{Method: "GET", Path: "/api/v1/users/:id", Summary: "get a user", Tag: "users", Auth: "tenant", Response: tenant.User{}},
		{Method: "PATCH", Path: "/api/v1/users/:id", Summary: "change a user; a role or password change ends their sessions", Tag: "users", Auth: "tenant", Request: userBody{}, Response: tenant.User{}},
		{Method: "DELETE", Path: "/api/v1/users/:id", Summary: "delete a user; their sockets close", Tag: "users", Auth: "tenant", Status: 204},

		{Method: "GET", Path: "/api/v1/tokens", Summary: "list integrator API tokens (no secrets)", Tag: "tokens", Auth: "tenant", Response: list[tenant.Token]{}},
		{Method: "POST", Path: "/api/v1/tokens", Summary: "create a token; the secret is in this response only", Tag: "tokens", Auth: "tenant", Request: tokenBody{}, Response: struct {
			Token  tenant.Token `json:"token"`
			Secret string       `json:"secret"`
		}{}, Status: 201},
		{Method: "DELETE", Path: "/api/v1/tokens/:id", Summary: "revoke a token; its sockets close within 1 s on every replica", Tag: "tokens", Auth: "tenant", Status: 204},

		{Method: "GET", Path: "/api/v1/policies", Summary: "the tenant's casbin policy lines", Tag: "policies", Auth: "tenant", Response: struct {
			Lines [][]string `json:"lines"`
		}{}},
		{Method: "PUT", Path: "/api/v1/policies", Summary: "replace the tenant's policy lines (validated); open sockets rescope within 1 s", Tag: "policies", Auth: "tenant", Request: struct {
			Lines [][]string `json:"lines"`
		}{}, Response: struct {
			Lines [][]string `json:"lines"`
		}{}},
		{Method: "GET", Path: "/api/v1/audit", Summary: "the tenant's audit log, newest first", Tag: "policies", Auth: "tenant", Response: list[tenant.AuditEntry]{}, Query: []param{{"limit", "rows (default 100)"}}},

		{Method: "GET", Path: "/api/v1/calls", Summary: "live channels now, filtered and masked like the feed", Tag: "live", Auth: "tenant", Response: map[string]any{}},
		{Method: "GET", Path: "/api/v1/groups", Summary: "queues, their members and queued callers now", Tag: "live", Auth: "tenant", Response: map[string]any{}},
		{Method: "GET", Path: "/api/v1/parked", Summary: "parked calls now", Tag: "live", Auth: "tenant", Response: map[string]any{}},
		{Method: "GET", Path: "/api/v1/history", Summary: "completed calls, newest first, keyset-paginated; CSV with format=csv", Tag: "history", Auth: "tenant", Response: struct {
			Calls      []tenant.Call `json:"calls"`
			NextCursor string        `json:"next_cursor"`
			Storage    string        `json:"storage"`
		}{}, Query: []param{{"from", "RFC 3339"}, {"to", "RFC 3339"}, {"user", "user id"}, {"direction", "inbound|outbound|internal"}, {"queue", "group id"}, {"limit", "1-1000 (default 50)"}, {"cursor", "next_cursor of the previous page"}, {"format", "csv"}}},
	}
}

// allOps is the documented route table.
func allOps() []operation {
	opsMu.Lock()
	defer opsMu.Unlock()
	return append(baseOps(), extraOps...)
}

// openapi serves the OpenAPI 3 document built from the table.
func (s *Server) openapi(c *fiber.Ctx) error {
	opsMu.Lock()
	if openapiDoc == nil {
		opsMu.Unlock()
		doc := buildOpenAPI(allOps(), s.cfg.Version)
		opsMu.Lock()
		openapiDoc, _ = jsonMarshal(doc)
	}
	b := openapiDoc
	opsMu.Unlock()
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

func buildOpenAPI(ops []operation, version string) map[string]any {
	schemas := map[string]any{}
	paths := map[string]map[string]any{}
	for _, op := range ops {
		p := openapiPath(op.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		status := op.Status
		if status == 0 {
			status = 200
		}
		o := map[string]any{"summary": op.Summary, "tags": []string{op.Tag}}
		var params []map[string]any
		for _, seg := range strings.Split(op.Path, "/") {
			if strings.HasPrefix(seg, ":") {
				params = append(params, map[string]any{"name": seg[1:], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
			}
		}
		for _, q := range op.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Desc, "schema": map[string]string{"type": "string"}})
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.Request != nil {
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(op.Request), schemas)}}}
		}
		resp := map[string]any{"description": "success"}
		if op.Response != nil {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(op.Response), schemas)}}
		}
		errResp := map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(errorBody{}), schemas)}}}
		o["responses"] = map[string]any{itoa(status): resp, "default": errResp}
		switch op.Auth {
		case "":
			o["security"] = []any{}
		case "platform":
			o["security"] = []map[string][]string{{"bearer": {}}}
			o["description"] = "Platform admin only (HOOKFLASH_ADMIN_TOKEN)."
		default:
			o["security"] = []map[string][]string{{"bearer": {}}, {"basic": {}}, {"queryToken": {}}}
		}
		paths[p][strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Hookflash API", "version": version,
			"description": "Multi-tenant CTI backend for Asterisk. Errors are {\"error\":{\"code\",\"message\"}}. The WebSocket protocol is in docs/protocol.md."},
		"servers": []map[string]string{{"url": "/"}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer":     map[string]string{"type": "http", "scheme": "bearer"},
				"basic":      map[string]string{"type": "http", "scheme": "basic", "description": "domain:token (Basix style)"},
				"queryToken": map[string]string{"type": "apiKey", "in": "query", "name": "token"},
			},
		},
	}
}

// openapiPath turns /users/:id into /users/{id}.
func openapiPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

var timeType = reflect.TypeOf(time.Time{})

// schemaOf returns a JSON Schema for t; named struct types go to schemas and
// are referenced.
func schemaOf(t reflect.Type, schemas map[string]any) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return map[string]string{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]string{"type": "string"}
	case reflect.Bool:
		return map[string]string{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]string{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]string{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if name != "" && t.PkgPath() != "" {
			name = schemaName(t)
			if _, ok := schemas[name]; !ok {
				schemas[name] = map[string]any{} // break cycles
				schemas[name] = structSchema(t, schemas)
			}
			return map[string]string{"$ref": "#/components/schemas/" + name}
		}
		return structSchema(t, schemas)
	}
	return map[string]any{}
}

func schemaName(t reflect.Type) string {
	pkg := t.PkgPath()
	pkg = pkg[strings.LastIndexByte(pkg, '/')+1:]
	if pkg == "api" {
		return t.Name()
	}
	return strings.ToUpper(pkg[:1]) + pkg[1:] + t.Name()
}

func structSchema(t reflect.Type, schemas map[string]any) map[string]any {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name := strings.Split(tag, ",")[0]
		if name == "" {
			if f.Anonymous {
				for k, v := range structSchema(f.Type, schemas)["properties"].(map[string]any) {
					props[k] = v
				}
				continue
			}
			name = f.Name
		}
		props[name] = schemaOf(f.Type, schemas)
	}
	return map[string]any{"type": "object", "properties": props}
}

// DocumentedRoutes lists "METHOD /path" of every documented route.
func DocumentedRoutes() []string {
	var out []string
	for _, op := range allOps() {
		out = append(out, op.Method+" "+op.Path)
	}
	return out
}

// RegisteredRoutes lists "METHOD /path" of every route fiber serves
// (without the HEAD twins fiber adds to GETs, and without trailing slashes).
func (s *Server) RegisteredRoutes() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.app.GetRoutes(true) {
		if r.Method == fiber.MethodHead || r.Method == "USE" {
			continue
		}
		p := r.Path
		if len(p) > 1 {
			p = strings.TrimSuffix(p, "/")
		}
		k := r.Method + " " + p
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
