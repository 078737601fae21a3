package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/internal/httpapi"
)

func TestKeysAndRoles(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustOpenPool(t)
	svc := auth.NewService(pool, false)
	keys := map[auth.Role]string{}
	for _, r := range []auth.Role{auth.Viewer, auth.Operator, auth.Admin} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			k, err := auth.CreateKey(ctx, tx, "user-"+string(r), r, "")
			keys[r] = k
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var stored []byte
	if err := pool.QueryRow(ctx, `SELECT hash FROM api_keys WHERE name = 'user-admin'`).Scan(&stored); err != nil || string(stored) == keys[auth.Admin] {
		t.Fatalf("key must be stored hashed: %v", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /write", func(w http.ResponseWriter, r *http.Request) {
		if err := auth.Require(r.Context(), auth.Operator); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		w.WriteHeader(204)
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		if err := svc.RequireRead(r.Context()); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		w.WriteHeader(204)
	})
	srv := httptest.NewServer(svc.Middleware(mux))
	defer srv.Close()

	wrong := keys[auth.Admin][:20] + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	cases := []struct {
		name, method, path, header string
		want                       int
	}{
		{"no key write", "POST", "/write", "", 401},
		{"wrong key", "POST", "/write", "Bearer " + wrong, 401},
		{"garbage key", "POST", "/write", "Bearer hello", 401},
		{"not bearer", "POST", "/write", "Basic Zm9vOmJhcg==", 401},
		{"viewer writes", "POST", "/write", "Bearer " + keys[auth.Viewer], 403},
		{"operator writes", "POST", "/write", "Bearer " + keys[auth.Operator], 204},
		{"admin writes", "POST", "/write", "Bearer " + keys[auth.Admin], 204},
		{"anonymous read, private", "GET", "/read", "", 401},
		{"viewer reads", "GET", "/read", "Bearer " + keys[auth.Viewer], 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}

	// Revocation takes effect at once on this instance.
	var prefix string
	pool.QueryRow(ctx, `SELECT prefix FROM api_keys WHERE name = 'user-operator'`).Scan(&prefix)
	if err := svc.Revoke(ctx, prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, keys[auth.Operator]); err == nil {
		t.Fatal("revoked key still authenticates")
	}
	svc.PublicReads = true
	resp, _ := http.Get(srv.URL + "/read")
	if resp.StatusCode != 204 {
		t.Fatalf("public read: %d", resp.StatusCode)
	}
}
