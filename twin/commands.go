package twin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citytwin/citytwin/internal/errs"
)

// CommandInput is the body of POST /api/v1/devices/{id}/commands:
// {"command":"switch","args":{"on":true}} or {"command":"dim","args":{"level":40}}.
type CommandInput struct {
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args"`
}

// Command is a command sent to a device and its outcome: sent (waiting),
// ok or failed (the device's ack), timeout (no ack in time).
type Command struct {
	ID      int64           `json:"id"`
	Device  string          `json:"device"`
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args"`
	Status  string          `json:"status"`
	Result  json.RawMessage `json:"result"`
	Actor   string          `json:"actor"`
	SentAt  time.Time       `json:"sent_at"`
	AckedAt *time.Time      `json:"acked_at"`
}

// commandMessage is the payload of citytwin/devices/{id}/commands.
type commandMessage struct {
	ID      int64           `json:"id"`
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args"`
}

func checkCommand(d *device, in CommandInput) (json.RawMessage, error) {
	k := kinds[d.Kind]
	if !slices.Contains(k.Commands, in.Command) {
		if len(k.Commands) == 0 {
			return nil, errs.Invalid("command", "a %s device takes no commands", d.Kind)
		}
		return nil, errs.Invalid("command", "a %s device takes the commands %v, not %q", d.Kind, k.Commands, in.Command)
	}
	switch in.Command {
	case "switch":
		var a struct {
			On *bool `json:"on"`
		}
		if err := strictJSON(in.Args, &a); err != nil || a.On == nil {
			return nil, errs.Invalid("args", `switch takes {"on": true|false}`)
		}
		b, _ := json.Marshal(map[string]bool{"on": *a.On})
		return b, nil
	case "dim":
		var a struct {
			Level *float64 `json:"level"`
		}
		if err := strictJSON(in.Args, &a); err != nil || a.Level == nil || *a.Level < 0 || *a.Level > 100 {
			return nil, errs.Invalid("args", `dim takes {"level": 0..100}`)
		}
		b, _ := json.Marshal(map[string]float64{"level": *a.Level})
		return b, nil
	}
	return nil, errs.Invalid("command", "unknown command %q", in.Command)
}

func strictJSON(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return errors.New("missing")
	}
	return json.Unmarshal(raw, v)
}

// SendCommand publishes a command to device id over MQTT and waits up to
// timeout for its ack. Returns the recorded command; ETIMEOUT when no ack
// came in time (the command stays recorded as "timeout"), EUNAVAILABLE when
// there is no broker, ENOTFOUND, EINVALID.
func (s *Service) SendCommand(ctx context.Context, id, actor string, in CommandInput, timeout time.Duration) (Command, error) {
	d := s.lookup(id)
	if d == nil {
		return Command{}, errs.NotFound("no device %q", id)
	}
	args, err := checkCommand(d, in)
	if err != nil {
		return Command{}, err
	}
	if s.publish == nil {
		return Command{}, errs.Errorf(errs.EUNAVAILABLE, "no MQTT broker to reach devices (CITYTWIN_MQTT_ADDR is off and CITYTWIN_MQTT_URL is unset)")
	}
	if timeout <= 0 {
		timeout = s.Options.CommandTimeout
	}
	var cmd Command
	err = s.Pool.QueryRow(ctx, `INSERT INTO device_commands (device_id, command, args, actor) VALUES ($1, $2, $3, $4)
		RETURNING id, sent_at`, id, in.Command, args, actor).Scan(&cmd.ID, &cmd.SentAt)
	if err != nil {
		return Command{}, fmt.Errorf("record command: %w", err)
	}
	ch := make(chan CommandAck, 1)
	s.pendingMu.Lock()
	s.pending[cmd.ID] = ch
	s.pendingMu.Unlock()
	defer func() {
		s.pendingMu.Lock()
		delete(s.pending, cmd.ID)
		s.pendingMu.Unlock()
	}()
	payload, _ := json.Marshal(commandMessage{ID: cmd.ID, Command: in.Command, Args: args})
	if err := s.publish(ctx, TopicPrefix+id+"/commands", payload); err != nil {
		_, _ = s.Pool.Exec(context.WithoutCancel(ctx), `UPDATE device_commands SET status = 'failed', result = $2 WHERE id = $1`,
			cmd.ID, mustJSON(map[string]string{"error": err.Error()}))
		s.countCommand("failed")
		return Command{}, errs.Wrap(errs.EUNAVAILABLE, err, "cannot publish the command")
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		_, err := s.Pool.Exec(context.WithoutCancel(ctx), `UPDATE device_commands SET status = 'timeout' WHERE id = $1 AND status = 'sent'`, cmd.ID)
		if err != nil {
			return Command{}, fmt.Errorf("record timeout: %w", err)
		}
		s.countCommand("timeout")
		c, _ := s.command(context.WithoutCancel(ctx), cmd.ID)
		if c.Status != "timeout" {
			return c, nil // the ack came just now
		}
		return c, errs.Errorf(errs.ETIMEOUT, "device %q did not acknowledge command %d within %s", id, cmd.ID, timeout)
	case <-ctx.Done():
		return Command{}, errs.Wrap(errs.EUNAVAILABLE, ctx.Err(), "request ended before the device answered")
	}
	return s.command(ctx, cmd.ID)
}

func (s *Service) countCommand(status string) {
	if s.metrics != nil {
		s.metrics.commands.WithLabelValues(status).Inc()
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// HandleAck records a device's command ack (from citytwin/devices/{id}/commands/ack):
// the command's result and, when ok, the state the device reports, which
// becomes its latest values. The waiting request is told once it is durable.
func (s *Service) HandleAck(ctx context.Context, deviceID string, ack CommandAck) error {
	d := s.lookup(deviceID)
	if d == nil {
		return errs.NotFound("no device %q", deviceID)
	}
	status := "failed"
	if ack.OK {
		status = "ok"
	}
	result, _ := json.Marshal(ack)
	tag, err := s.Pool.Exec(ctx, `UPDATE device_commands SET status = $3, result = $4, acked_at = now()
		WHERE id = $1 AND device_id = $2 AND status IN ('sent', 'timeout')`, ack.ID, deviceID, status, result)
	if err != nil {
		return fmt.Errorf("record ack: %w", err)
	}
	if tag.RowsAffected() == 0 {
		// Well formed, but not an answer this device owes: unknown, another
		// device's, or answered already.
		return &errs.Error{Code: errs.EUNPROCESSABLE, Where: "id", Message: fmt.Sprintf("no open command %d for device %q", ack.ID, deviceID)}
	}
	s.countCommand(status)
	if ack.OK && len(ack.State) > 0 {
		now := time.Now().UTC().Truncate(time.Microsecond)
		var rows []Observation
		for m, raw := range ack.State {
			v, ok := stateValue(raw)
			if !ok {
				continue
			}
			if mt, ok := d.metric(m); !ok || !mt.Valid(v) {
				continue
			}
			rows = append(rows, Observation{Device: deviceID, Time: now, Metric: m, Value: v})
		}
		if len(rows) > 0 {
			// The confirmed state goes to the device's row at once, not
			// lazily as readings do: a command's effect is settled state.
			req := &writeReq{rows: rows, seen: map[string]time.Time{deviceID: now}, done: make(chan writeRes, 1), settled: true}
			if err := s.enqueue(ctx, req); err != nil {
				return err
			}
			if _, err := s.wait(ctx, req); err != nil {
				return err
			}
		}
	}
	s.pendingMu.Lock()
	ch := s.pending[ack.ID]
	s.pendingMu.Unlock()
	if ch != nil {
		select {
		case ch <- ack:
		default:
		}
	}
	return nil
}

func (s *Service) command(ctx context.Context, id int64) (Command, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, device_id, command, args, status, result, actor, sent_at, acked_at
		FROM device_commands WHERE id = $1`, id)
	if err != nil {
		return Command{}, fmt.Errorf("command: %w", err)
	}
	cs, err := pgx.CollectRows(rows, scanCommand)
	if err != nil {
		return Command{}, fmt.Errorf("command: %w", err)
	}
	if len(cs) == 0 {
		return Command{}, errs.NotFound("no command %d", id)
	}
	return cs[0], nil
}

func scanCommand(row pgx.CollectableRow) (Command, error) {
	var c Command
	var result []byte
	err := row.Scan(&c.ID, &c.Device, &c.Command, &c.Args, &c.Status, &result, &c.Actor, &c.SentAt, &c.AckedAt)
	if result != nil {
		c.Result = result
	} else {
		c.Result = json.RawMessage("null")
	}
	return c, err
}

// Commands lists a device's commands, newest first.
func (s *Service) Commands(ctx context.Context, id string, limit int) ([]Command, error) {
	if s.lookup(id) == nil {
		return nil, errs.NotFound("no device %q", id)
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.Pool.Query(ctx, `SELECT id, device_id, command, args, status, result, actor, sent_at, acked_at
		FROM device_commands WHERE device_id = $1 ORDER BY sent_at DESC, id DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("commands: %w", err)
	}
	cs, err := pgx.CollectRows(rows, scanCommand)
	if err != nil {
		return nil, fmt.Errorf("commands: %w", err)
	}
	return cs, nil
}
