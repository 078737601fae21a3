package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Listen opens the HTTP listener on the configured address.
func (a *App) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", a.Config.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (set CITYTWIN_ADDR or --addr to another address)", a.Config.Addr, err)
	}
	return ln, nil
}

// Serve serves HTTP on ln until ctx ends, then shuts down gracefully: it
// stops accepting, lets requests in flight finish (up to ShutdownTimeout),
// and returns. Close releases the rest.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	a.Listener = ln
	if a.Config.PprofAddr != "" {
		stop, err := a.servePprof(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	a.Logger.Info("serving", "url", a.URL())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	close(a.started)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// servePprof serves Go's profiles on their own listener, for operators
// measuring a running server (go tool pprof http://ADDR/debug/pprof/profile).
func (a *App) servePprof(ctx context.Context) (stop func(), err error) {
	ln, err := net.Listen("tcp", a.Config.PprofAddr)
	if err != nil {
		return nil, fmt.Errorf("pprof: listen on %s: %w", a.Config.PprofAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go srv.Serve(ln)
	a.Logger.Info("serving profiles", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { srv.Close() }, nil
}

// Run opens the database, builds the App, and serves until ctx ends.
func (a *App) Run(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(ctx)
	if err := a.OpenDB(ctx); err != nil {
		return err
	}
	if err := a.Build(ctx); err != nil {
		return err
	}
	ln, err := a.Listen()
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}
