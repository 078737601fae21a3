// Package auth holds citytwin's credentials: API keys with roles (viewer,
// operator, admin, device), stored hashed, carried as "Authorization: Bearer
// KEY", and the checks handlers make with them.
//
// A key is "ct_" + a 12-character public prefix + "_" + a 43-character
// secret. Only the key's SHA-256 is stored (the secret is 256 random bits, so
// a slow password hash would add nothing); the prefix finds its row.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
)

// Role is what a credential may do.
type Role string

// Roles. Admin may do what an operator may, an operator what a viewer may. A
// device key writes its own device's telemetry and nothing else.
const (
	Viewer   Role = "viewer"
	Operator Role = "operator"
	Admin    Role = "admin"
	Device   Role = "device"
)

var rank = map[Role]int{Viewer: 1, Operator: 2, Admin: 3}

// ParseRole checks s names a role.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case Viewer, Operator, Admin, Device:
		return r, nil
	}
	return "", errs.Invalid("role", "unknown role %q (viewer, operator, admin or device)", s)
}

// Principal is who made a request.
type Principal struct {
	KeyID    int64
	Name     string
	Role     Role
	DeviceID string // for device keys
}

// Can reports whether p holds at least role min (device keys hold only Device).
func (p *Principal) Can(min Role) bool {
	if p == nil {
		return false
	}
	if min == Device || p.Role == Device {
		return p.Role == min
	}
	return rank[p.Role] >= rank[min]
}

// Actor is the name recorded in audit entries.
func (p *Principal) Actor() string {
	if p == nil {
		return "anonymous"
	}
	if p.Role == Device {
		return "device:" + p.DeviceID
	}
	return p.Name
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal, or nil when anonymous.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Service checks keys against the api_keys table.
type Service struct {
	Pool *pgxpool.Pool
	// PublicReads lets anonymous requests read (viewer role) when true.
	PublicReads bool
	// CacheTTL is how long a verified key is trusted without a database
	// look-up (so revocation takes at most this long). Default 10 s.
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	p   *Principal
	exp time.Time
}

// NewService returns a key service on pool.
func NewService(pool *pgxpool.Pool, publicReads bool) *Service {
	return &Service{Pool: pool, PublicReads: publicReads, CacheTTL: 10 * time.Second, cache: map[[32]byte]cached{}}
}

// NewKey returns a fresh key and its public prefix.
func NewKey() (key, prefix string) {
	var p [9]byte
	var s [32]byte
	_, _ = rand.Read(p[:])
	_, _ = rand.Read(s[:])
	prefix = "ct_" + base64.RawURLEncoding.EncodeToString(p[:])
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(s[:]), prefix
}

func hashKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// CreateKey stores a new key for name with role (deviceID for device keys)
// and returns the key, which is shown once and never stored in clear. It runs
// in tx so that, for example, a device and its key are created together.
func CreateKey(ctx context.Context, tx pgx.Tx, name string, role Role, deviceID string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", errs.Invalid("name", "a key needs a name")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", err
	}
	if (role == Device) != (deviceID != "") {
		return "", errs.Invalid("role", "device keys, and only they, belong to a device")
	}
	key, prefix := NewKey()
	h := hashKey(key)
	var dev, user any
	if deviceID != "" {
		dev = deviceID
	} else {
		user = name
		if _, err := tx.Exec(ctx, `INSERT INTO users (name, role) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role`, name, string(role)); err != nil {
			return "", fmt.Errorf("create user: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO api_keys (name, role, prefix, hash, user_name, device_id)
		VALUES ($1, $2, $3, $4, $5, $6)`, name, string(role), prefix, h[:], user, dev); err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	return key, nil
}

// Authenticate returns the principal holding key. Returns EUNAUTHORIZED for
// an unknown, malformed or revoked key.
func (s *Service) Authenticate(ctx context.Context, key string) (*Principal, error) {
	bad := errs.Errorf(errs.EUNAUTHORIZED, "invalid or revoked API key")
	if len(key) != 3+12+1+43 || !strings.HasPrefix(key, "ct_") || key[15] != '_' {
		return nil, bad
	}
	h := hashKey(key)
	now := time.Now()
	s.mu.Lock()
	if c, ok := s.cache[h]; ok && now.Before(c.exp) {
		s.mu.Unlock()
		return c.p, nil
	}
	s.mu.Unlock()

	var p Principal
	var stored []byte
	var dev *string
	err := s.Pool.QueryRow(ctx, `SELECT id, name, role, hash, device_id FROM api_keys
		WHERE prefix = $1 AND revoked_at IS NULL`, key[:15]).Scan(&p.KeyID, &p.Name, &p.Role, &stored, &dev)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, bad
	}
	if err != nil {
		return nil, errs.Wrap(errs.EUNAVAILABLE, err, "cannot check credentials now")
	}
	if subtle.ConstantTimeCompare(stored, h[:]) != 1 {
		return nil, bad
	}
	if dev != nil {
		p.DeviceID = *dev
	}
	s.mu.Lock()
	if len(s.cache) > 100000 {
		clear(s.cache)
	}
	s.cache[h] = cached{p: &p, exp: now.Add(s.CacheTTL)}
	s.mu.Unlock()
	return &p, nil
}

// Revoke revokes the key with the given prefix at once (the cache of this
// instance is cleared too).
func (s *Service) Revoke(ctx context.Context, prefix string) error {
	tag, err := s.Pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL`, prefix)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errs.NotFound("no active key with prefix %q", prefix)
	}
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
	return nil
}

// TokenFrom returns the bearer token of r: the Authorization header, or the
// access_token query parameter (browsers cannot set headers on websockets).
func TokenFrom(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return "\x00malformed"
	}
	return r.URL.Query().Get("access_token")
}

// Middleware authenticates the request's key, if it carries one, and puts the
// principal into its context. A bad key is refused at once with 401; a
// request without a key goes on anonymous, for handlers to decide.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := TokenFrom(r)
		if tok == "" {
			next.ServeHTTP(w, r)
			return
		}
		if tok == "\x00malformed" {
			httpapi.Error(w, r, errs.Errorf(errs.EUNAUTHORIZED, "the Authorization header must be \"Bearer KEY\""))
			return
		}
		p, err := s.Authenticate(r.Context(), tok)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Require returns nil when the request's principal holds role min, else
// EUNAUTHORIZED (no credential) or EFORBIDDEN (not enough).
func Require(ctx context.Context, min Role) error {
	p := PrincipalFrom(ctx)
	if p == nil {
		return errs.Errorf(errs.EUNAUTHORIZED, "this needs an API key with the %s role (Authorization: Bearer KEY)", min)
	}
	if !p.Can(min) {
		return errs.Errorf(errs.EFORBIDDEN, "the %s role is needed; this key has %s", min, p.Role)
	}
	return nil
}

// RequireRead allows a read when reads are public or the principal is at
// least a viewer.
func (s *Service) RequireRead(ctx context.Context) error {
	if s.PublicReads {
		return nil
	}
	return Require(ctx, Viewer)
}

// Fingerprint is a short, safe identifier of a key for logs.
func Fingerprint(key string) string {
	h := hashKey(key)
	return hex.EncodeToString(h[:4])
}
