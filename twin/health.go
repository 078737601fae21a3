package twin

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// healthLoop marks devices offline when they miss their interval by
// OfflineFactor, raising an "offline" alarm; ingest marks them online again
// and clears it.
func (s *Service) healthLoop(ctx context.Context) {
	t := time.NewTicker(s.Options.HealthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.CheckHealth(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.Logger.Warn("twin: health check", "err", err)
		}
	}
}

// CheckHealth marks silent devices offline as of now.
func (s *Service) CheckHealth(ctx context.Context, now time.Time) error {
	var silent []string
	s.mu.RLock()
	for id, d := range s.devices {
		if d.Status == StatusOffline {
			continue
		}
		ref := d.LastSeen
		if ref.IsZero() {
			ref = d.Created
		}
		limit := time.Duration(float64(d.Interval) * s.Options.OfflineFactor)
		if now.Sub(ref) > limit {
			silent = append(silent, id)
		}
	}
	s.mu.RUnlock()
	if len(silent) == 0 {
		return nil
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	_, err := s.commitChanges(ctx, func(tx pgx.Tx, c *changeSet) error {
		for _, id := range silent {
			d := c.dev(id)
			if d == nil || d.Status == StatusOffline {
				continue
			}
			d.Status = StatusOffline
			msg := fmt.Sprintf("no report for %s (expected every %s)", now.Sub(d.LastSeen).Round(time.Second), d.Interval)
			if d.LastSeen.IsZero() {
				msg = fmt.Sprintf("never reported (expected every %s)", d.Interval)
			}
			if err := c.raise(ctx, tx, d, "offline", "minor", msg, nil, nil, nil, now); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}
