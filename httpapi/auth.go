package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	settle "github.com/settlehq/settle"
)

// Role is what a principal may do.
type Role string

// The roles of docs/server.md. Every authenticated principal may read.
const (
	// RoleCollector writes back verdicts whose collector key is its own.
	RoleCollector Role = "collector"
	// RoleDispatcher registers tasks and declares (and settles) batches.
	RoleDispatcher Role = "dispatcher"
	// RoleRunner saves takes: scene status writes and runner saves.
	RoleRunner Role = "runner"
	// RoleOperator writes scene candidates, activates versions, initializes
	// scenes from plans, and may do everything the other roles do,
	// including write-backs for any collector key (repairs, migrations).
	RoleOperator Role = "operator"
	// RoleReader reads.
	RoleReader Role = "reader"
)

// Roles lists every role.
var Roles = []Role{RoleCollector, RoleDispatcher, RoleRunner, RoleOperator, RoleReader}

// Token maps a bearer token, stored as the hex sha256 of the token, to a
// principal.
type Token struct {
	TokenSHA256  string
	Principal    string
	Role         Role
	CollectorKey string // role collector: its own key
}

// Principal is an authenticated caller.
type Principal struct {
	Name         string `json:"principal"`
	Role         Role   `json:"role"`
	CollectorKey string `json:"collector_key,omitempty"`
}

// HashToken returns the hex sha256 of a bearer token, as stored in the
// configuration.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

type authEntry struct {
	sum [sha256.Size]byte
	p   Principal
}

// authenticator resolves bearer tokens to principals.
type authenticator struct {
	entries []authEntry
}

func newAuthenticator(tokens []Token) (*authenticator, error) {
	a := &authenticator{}
	seen := map[string]bool{}
	for _, t := range tokens {
		sum, err := hex.DecodeString(strings.ToLower(t.TokenSHA256))
		if err != nil || len(sum) != sha256.Size {
			return nil, settle.Errorf(settle.InvalidInput, "token for %q: token_sha256 must be 64 hex digits", t.Principal)
		}
		if t.Principal == "" {
			return nil, settle.Errorf(settle.InvalidInput, "a token has no principal name")
		}
		valid := false
		for _, r := range Roles {
			valid = valid || r == t.Role
		}
		if !valid {
			return nil, settle.Errorf(settle.InvalidInput, "token for %q: unknown role %q", t.Principal, t.Role)
		}
		if t.Role == RoleCollector && t.CollectorKey == "" {
			return nil, settle.Errorf(settle.InvalidInput, "collector token for %q has no collector_key", t.Principal)
		}
		if seen[string(sum)] {
			return nil, settle.Errorf(settle.InvalidInput, "token for %q: the same token is configured twice", t.Principal)
		}
		seen[string(sum)] = true
		e := authEntry{p: Principal{Name: t.Principal, Role: t.Role, CollectorKey: t.CollectorKey}}
		copy(e.sum[:], sum)
		a.entries = append(a.entries, e)
	}
	return a, nil
}

// authenticate returns the principal of the request's bearer token. The
// token's hash is compared with every configured hash in constant time,
// and every entry is compared whatever matched, so the time taken says
// nothing about which (or whether a) token matched.
func (a *authenticator) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, settle.Errorf(settle.Unauthorized, "missing bearer token")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Principal{}, settle.Errorf(settle.Unauthorized, "authorization must be \"Bearer <token>\"")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := -1
	for i := range a.entries {
		if subtle.ConstantTimeCompare(sum[:], a.entries[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return Principal{}, settle.Errorf(settle.Unauthorized, "unknown bearer token")
	}
	return a.entries[match].p, nil
}

// allowed reports whether role may use a route open to roles (nil: every
// authenticated role).
func allowed(role Role, roles []Role) bool {
	if roles == nil {
		return true
	}
	for _, r := range roles {
		if r == role || role == RoleOperator {
			return true
		}
	}
	return false
}
