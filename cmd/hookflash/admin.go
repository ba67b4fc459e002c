package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// resource describes one administrable collection of the REST API for the
// admin CLI: where it lives and which fields its table shows.
type resource struct {
	name    string   // CLI noun, e.g. "users"
	path    string   // under /api/v1
	listKey string   // key of the list in the GET answer ("" = the answer is the object)
	columns []string // JSON fields shown in tables
	// create lists the flags `create` accepts, mapped to body fields.
	create []createFlag
}

type createFlag struct {
	flag, field, usage string
	kind               string // "string" (default), "bool", "list" (comma-separated), "int"
}

var resources = []resource{
	{name: "tenants", path: "/tenants", listKey: "tenants", columns: []string{"id", "name", "disabled", "privacy.enabled", "created_at"},
		create: []createFlag{{"domain", "domain", "tenant domain (its id)", ""}, {"name", "name", "display name", ""},
			{"admin-username", "admin.username", "first admin's username", ""}, {"admin-password", "admin.password", "first admin's password", ""}}},
	{name: "pbxes", path: "/pbxes", listKey: "pbxes", columns: []string{"id", "name", "enabled", "ari_url", "ami_addr", "version"},
		create: []createFlag{{"name", "name", "display name", ""}, {"ari-url", "ari_url", "ARI base URL, e.g. http://pbx:8088/ari", ""},
			{"ari-user", "ari_user", "ARI user", ""}, {"ari-password", "ari_password", "ARI password", ""}, {"ari-app", "ari_app", "Stasis app (default hookflash)", ""},
			{"ami-addr", "ami_addr", "AMI host:port", ""}, {"ami-user", "ami_user", "AMI user", ""}, {"ami-secret", "ami_secret", "AMI secret", ""}}},
	{name: "users", path: "/users", listKey: "users", columns: []string{"id", "username", "name", "role", "main_extension", "terminals", "disabled"},
		create: []createFlag{{"username", "username", "login name", ""}, {"password", "password", "password (8+ characters)", ""},
			{"name", "name", "display name", ""}, {"role", "role", "admin, supervisor, agent or integrator", ""},
			{"extension", "main_extension", "main extension", ""}, {"terminals", "terminals", "comma-separated, e.g. PJSIP/1001", "list"}}},
	{name: "tokens", path: "/tokens", listKey: "tokens", columns: []string{"id", "name", "role", "prefix", "expires_at", "last_used_at", "revoked_at"},
		create: []createFlag{{"name", "name", "what the token is for", ""}, {"role", "role", "role (default integrator)", ""},
			{"expires-in", "expires_in", "lifetime, e.g. 720h (default: none)", ""}}},
}

// runAdmin is `hookflash admin <resource> <verb>`: the REST administration
// API from a terminal.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprint(stderr, `Usage: hookflash admin [--url URL] [--token TOKEN] [--tenant DOMAIN] [--json] <resource> <verb> [flags]

Resources and verbs:
  tenants   list | get ID | create | delete ID          (platform admin token)
  pbxes     list | get ID | create | delete ID | test ID
  users     list | get ID | create | delete ID
  tokens    list | create | revoke ID                   (the secret is printed once)
  policies  get | set FILE                              (FILE: JSON {"lines":[[...]]}, - for stdin)
  audit     list

--tenant names the tenant when the platform admin token is used.
URL and TOKEN default to HOOKFLASH_URL and HOOKFLASH_TOKEN.
`)
	}
	fs := flag.NewFlagSet("hookflash admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage
	cl := &adminClient{}
	fs.StringVar(&cl.base, "url", envOr("HOOKFLASH_URL", "http://127.0.0.1:8080"), "server base URL")
	fs.StringVar(&cl.token, "token", os.Getenv("HOOKFLASH_TOKEN"), "admin token")
	fs.StringVar(&cl.tenant, "tenant", "", "tenant domain (platform admin)")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	rest := fs.Args()
	if len(rest) < 2 {
		usage()
		return errUsage
	}
	if cl.token == "" {
		return errors.New("no token: pass --token or set HOOKFLASH_TOKEN")
	}
	out := &adminOut{w: stdout, json: *asJSON}
	noun, verb, rest := rest[0], rest[1], rest[2:]
	switch noun {
	case "policies":
		return adminPolicies(ctx, cl, out, verb, rest)
	case "audit":
		res, err := cl.do(ctx, "GET", "/audit", nil)
		if err != nil {
			return err
		}
		return out.list(res, "entries", []string{"at", "actor", "action", "target", "detail"})
	}
	for _, r := range resources {
		if r.name == noun {
			return adminResource(ctx, cl, out, r, verb, rest, stderr)
		}
	}
	usage()
	return errUsage
}

// runToken is `hookflash token create …`, the same as `admin tokens create`.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "Usage: hookflash token create --name NAME [--role ROLE] [--expires-in 720h] [--url URL] [--token ADMIN_TOKEN] [--tenant DOMAIN]")
		return errUsage
	}
	var global, local []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		isGlobal := name == "url" || name == "token" || name == "tenant" || name == "json"
		dst := &local
		if isGlobal {
			dst = &global
		}
		*dst = append(*dst, a)
		if !strings.Contains(a, "=") && name != "json" && i+1 < len(args) {
			i++
			*dst = append(*dst, args[i])
		}
	}
	return runAdmin(ctx, append(append(global, "tokens", "create"), local...), stdout, stderr)
}

func adminResource(ctx context.Context, cl *adminClient, out *adminOut, r resource, verb string, args []string, stderr io.Writer) error {
	needID := func() (string, error) {
		if len(args) != 1 {
			return "", fmt.Errorf("%s %s needs exactly one ID", r.name, verb)
		}
		return url.PathEscape(args[0]), nil
	}
	switch verb {
	case "list":
		res, err := cl.do(ctx, "GET", r.path, nil)
		if err != nil {
			return err
		}
		return out.list(res, r.listKey, r.columns)
	case "get":
		id, err := needID()
		if err != nil {
			return err
		}
		res, err := cl.do(ctx, "GET", r.path+"/"+id, nil)
		if err != nil {
			return err
		}
		return out.object(res, r.columns)
	case "delete", "revoke":
		id, err := needID()
		if err != nil {
			return err
		}
		if _, err := cl.do(ctx, "DELETE", r.path+"/"+id, nil); err != nil {
			return err
		}
		fmt.Fprintf(out.w, "%s %s: done\n", r.name, args[0])
		return nil
	case "test":
		id, err := needID()
		if err != nil {
			return err
		}
		res, err := cl.do(ctx, "POST", r.path+"/"+id+"/test", nil)
		if err != nil {
			return err
		}
		if out.json {
			return out.raw(res)
		}
		tw := tabwriter.NewWriter(out.w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "CONNECTION\tOK\tMS\tDETAIL")
		for _, k := range []string{"ari", "ami"} {
			m, _ := res[k].(map[string]any)
			fmt.Fprintf(tw, "%s\t%v\t%v\t%s\n", strings.ToUpper(k), m["ok"], m["ms"], firstNonEmpty(str(m["error"]), str(m["version"])))
		}
		return tw.Flush()
	case "create":
		fs := flag.NewFlagSet("hookflash admin "+r.name+" create", flag.ContinueOnError)
		fs.SetOutput(stderr)
		vals := map[string]*string{}
		for _, f := range r.create {
			vals[f.flag] = fs.String(f.flag, "", f.usage)
		}
		if err := fs.Parse(args); err != nil {
			return errUsage
		}
		body := map[string]any{}
		for _, f := range r.create {
			v := *vals[f.flag]
			if v == "" {
				continue
			}
			var val any = v
			if f.kind == "list" {
				val = strings.Split(v, ",")
			}
			setPath(body, f.field, val)
		}
		res, err := cl.do(ctx, "POST", r.path, body)
		if err != nil {
			return err
		}
		if out.json {
			return out.raw(res)
		}
		if secret, ok := res["secret"].(string); ok {
			tok, _ := res["token"].(map[string]any)
			fmt.Fprintf(out.w, "token %s created (role %s)\n\n  %s\n\nThis secret is shown only now: store it safely.\n", str(tok["id"]), str(tok["role"]), secret)
			return nil
		}
		if t, ok := res["tenant"].(map[string]any); ok {
			res = t
		}
		return out.object(res, r.columns)
	}
	return fmt.Errorf("unknown verb %q for %s", verb, r.name)
}

func adminPolicies(ctx context.Context, cl *adminClient, out *adminOut, verb string, args []string) error {
	switch verb {
	case "get":
		res, err := cl.do(ctx, "GET", "/policies", nil)
		if err != nil {
			return err
		}
		if out.json {
			return out.raw(res)
		}
		lines, _ := res["lines"].([]any)
		tw := tabwriter.NewWriter(out.w, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "PTYPE\tV0\tV1\tV2\tV3\tV4")
		for _, l := range lines {
			cells, _ := l.([]any)
			row := make([]string, 6)
			for i := 0; i < len(cells) && i < 6; i++ {
				row[i] = str(cells[i])
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		return tw.Flush()
	case "set":
		if len(args) != 1 {
			return errors.New(`policies set needs a FILE with {"lines":[["p","agent","<domain>","element/channel","read"],…]} (or - for stdin)`)
		}
		var r io.Reader = os.Stdin
		if args[0] != "-" {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		var body any
		if err := json.NewDecoder(io.LimitReader(r, 4<<20)).Decode(&body); err != nil {
			return fmt.Errorf("policy file: %w", err)
		}
		if _, err := cl.do(ctx, "PUT", "/policies", body); err != nil {
			return err
		}
		fmt.Fprintln(out.w, "policies replaced")
		return nil
	}
	return fmt.Errorf("unknown verb %q for policies (get, set)", verb)
}

type adminClient struct {
	base, token, tenant string
}

// do calls the REST API and returns the decoded JSON object; API errors come
// back as one readable line.
func (c *adminClient) do(ctx context.Context, method, path string, body any) (map[string]any, error) {
	u := strings.TrimSuffix(c.base, "/") + "/api/v1" + path
	if c.tenant != "" {
		u += "?tenant=" + url.QueryEscape(c.tenant)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	var out map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	if resp.StatusCode >= 300 {
		if e, ok := out["error"].(map[string]any); ok {
			return nil, fmt.Errorf("%s (%d %s)", str(e["message"]), resp.StatusCode, str(e["code"]))
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return out, nil
}

type adminOut struct {
	w    io.Writer
	json bool
}

func (o *adminOut) raw(v any) error {
	enc := json.NewEncoder(o.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (o *adminOut) list(res map[string]any, key string, cols []string) error {
	if o.json {
		return o.raw(res)
	}
	items, _ := res[key].([]any)
	tw := tabwriter.NewWriter(o.w, 0, 2, 2, ' ', 0)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(strings.ReplaceAll(c, "_", " "))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, it := range items {
		m, _ := it.(map[string]any)
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = cell(getPath(m, c))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(o.w, "(%d)\n", len(items))
	return nil
}

func (o *adminOut) object(m map[string]any, cols []string) error {
	if o.json {
		return o.raw(m)
	}
	keys := append([]string{}, cols...)
	var more []string
	for k := range m {
		if !contains(keys, k) {
			more = append(more, k)
		}
	}
	sort.Strings(more)
	tw := tabwriter.NewWriter(o.w, 0, 2, 2, ' ', 0)
	for _, k := range append(keys, more...) {
		if v := getPath(m, k); v != nil {
			fmt.Fprintf(tw, "%s\t%s\n", k, cell(v))
		}
	}
	return tw.Flush()
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.Local().Format("2006-01-02 15:04")
		}
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cell(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

func getPath(m map[string]any, path string) any {
	var v any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func setPath(m map[string]any, path string, val any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = val
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
