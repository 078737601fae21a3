package twin

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/citytwin/citytwin/internal/errs"
)

// Rule raises an alarm from a device's observations. It applies to every
// device of DeviceKind, or to the one device DeviceID.
//
//   - threshold: Metric Op Value (e.g. pressure_mpa < 0.15);
//   - range: Metric outside [Min, Max];
//   - rate: |change of Metric per second| > Value.
//
// ForS > 0 makes it a duration rule: the condition must hold that long (by
// observation time). The optional guard WhenMetric WhenOp WhenValue must hold
// too ("current_a <= 0 while on == 1"). With AutoClear the alarm clears when
// the condition ends. FeatureStatus, if set, is the status the device's
// feature takes while the alarm is active (a lamp fault marks its pole).
type Rule struct {
	ID            int64    `json:"id"`
	Name          string   `json:"name"`
	DeviceKind    *string  `json:"device_kind"`
	DeviceID      *string  `json:"device_id"`
	Metric        string   `json:"metric"`
	Kind          string   `json:"kind"`
	Op            *string  `json:"op"`
	Value         *float64 `json:"value"`
	Min           *float64 `json:"min"`
	Max           *float64 `json:"max"`
	ForS          float64  `json:"for_s"`
	WhenMetric    *string  `json:"when_metric"`
	WhenOp        *string  `json:"when_op"`
	WhenValue     *float64 `json:"when_value"`
	AlarmType     string   `json:"alarm_type"`
	Severity      string   `json:"severity"`
	Message       string   `json:"message"`
	AutoClear     bool     `json:"auto_clear"`
	FeatureStatus *string  `json:"feature_status"`
	Builtin       bool     `json:"builtin"`
}

const ruleCols = `id, name, device_kind, device_id, metric, kind, op, value, min, max, for_s, when_metric, when_op, when_value,
	alarm_type, severity, message, auto_clear, feature_status, builtin`

func loadRules(ctx context.Context, pool *pgxpool.Pool) ([]Rule, error) {
	rows, err := pool.Query(ctx, `SELECT `+ruleCols+` FROM rules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("twin: load rules: %w", err)
	}
	rules, err := pgx.CollectRows(rows, scanRule)
	if err != nil {
		return nil, fmt.Errorf("twin: load rules: %w", err)
	}
	return rules, nil
}

func scanRule(row pgx.CollectableRow) (Rule, error) {
	var r Rule
	err := row.Scan(&r.ID, &r.Name, &r.DeviceKind, &r.DeviceID, &r.Metric, &r.Kind, &r.Op, &r.Value, &r.Min, &r.Max, &r.ForS,
		&r.WhenMetric, &r.WhenOp, &r.WhenValue, &r.AlarmType, &r.Severity, &r.Message, &r.AutoClear, &r.FeatureStatus, &r.Builtin)
	return r, err
}

func validOp(op string) bool {
	switch op {
	case ">", ">=", "<", "<=", "==", "!=":
		return true
	}
	return false
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case "==":
		return a == b
	case "!=":
		return a != b
	}
	return false
}

// check validates a new rule.
func (r *Rule) check(s *Service) error {
	if r.Name == "" {
		return errs.Invalid("name", "a rule needs a name")
	}
	if (r.DeviceKind == nil) == (r.DeviceID == nil) {
		return errs.Invalid("device_kind", "give either device_kind or device_id")
	}
	if r.DeviceKind != nil {
		if _, ok := kinds[*r.DeviceKind]; !ok {
			return errs.Invalid("device_kind", "unknown device kind %q", *r.DeviceKind)
		}
	}
	if r.DeviceID != nil && s.lookup(*r.DeviceID) == nil {
		return errs.Invalid("device_id", "no device %q", *r.DeviceID)
	}
	if !metricNameRe.MatchString(r.Metric) {
		return errs.Invalid("metric", "metric %q is not a metric name", r.Metric)
	}
	finite := func(p *float64) bool { return p != nil && !math.IsNaN(*p) && !math.IsInf(*p, 0) }
	switch r.Kind {
	case "threshold":
		if r.Op == nil || !validOp(*r.Op) {
			return errs.Invalid("op", "a threshold rule needs op: >, >=, <, <=, == or !=")
		}
		if !finite(r.Value) {
			return errs.Invalid("value", "a threshold rule needs a numeric value")
		}
	case "range":
		if !finite(r.Min) || !finite(r.Max) || *r.Min > *r.Max {
			return errs.Invalid("min", "a range rule needs min <= max")
		}
	case "rate":
		if !finite(r.Value) || *r.Value <= 0 {
			return errs.Invalid("value", "a rate rule needs a positive value (change per second)")
		}
	default:
		return errs.Invalid("kind", "kind must be threshold, range or rate (add for_s for a duration rule)")
	}
	if r.ForS < 0 || math.IsNaN(r.ForS) || r.ForS > 7*86400 {
		return errs.Invalid("for_s", "for_s must be 0 to 604800 seconds")
	}
	if r.WhenMetric != nil {
		if r.WhenOp == nil || !validOp(*r.WhenOp) || !finite(r.WhenValue) {
			return errs.Invalid("when_op", "a guard needs when_metric, when_op and when_value")
		}
	}
	if !deviceIDRe.MatchString(r.AlarmType) || r.AlarmType == "offline" {
		return errs.Invalid("alarm_type", "alarm_type must be a short name (not \"offline\", which health raises)")
	}
	switch r.Severity {
	case "info", "minor", "major", "critical":
	default:
		return errs.Invalid("severity", "severity must be info, minor, major or critical")
	}
	if r.FeatureStatus != nil {
		switch *r.FeatureStatus {
		case "fault", "offline", "maintenance":
		default:
			return errs.Invalid("feature_status", "feature_status must be fault, offline or maintenance")
		}
	}
	if r.Message == "" {
		r.Message = r.Name
	}
	return nil
}

// applies reports whether r concerns device d.
func (r *Rule) applies(d *device) bool {
	if r.DeviceID != nil {
		return *r.DeviceID == d.ID
	}
	return r.DeviceKind != nil && *r.DeviceKind == d.Kind
}

// holds evaluates r's condition on d's values after metric changed from
// prev (hasPrev) to the current value.
func (r *Rule) holds(d *device, prev Value, hasPrev bool) bool {
	cur, ok := d.Values[r.Metric]
	if !ok {
		return false
	}
	if r.WhenMetric != nil {
		g, ok := d.Values[*r.WhenMetric]
		if !ok || !compare(g.Value, *r.WhenOp, *r.WhenValue) {
			return false
		}
	}
	switch r.Kind {
	case "threshold":
		return compare(cur.Value, *r.Op, *r.Value)
	case "range":
		return cur.Value < *r.Min || cur.Value > *r.Max
	case "rate":
		if !hasPrev {
			return false
		}
		dt := cur.Time.Sub(prev.Time).Seconds()
		if dt <= 0 {
			return false
		}
		return math.Abs(cur.Value-prev.Value)/dt > *r.Value
	}
	return false
}

// Rules lists the rules.
func (s *Service) Rules() []Rule {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Rule(nil), s.rules...)
}

// CreateRule stores a rule; it applies from the next observation.
func (s *Service) CreateRule(ctx context.Context, r Rule) (Rule, error) {
	if err := r.check(s); err != nil {
		return Rule{}, err
	}
	r.Builtin = false
	row := s.Pool.QueryRow(ctx, `INSERT INTO rules (name, device_kind, device_id, metric, kind, op, value, min, max, for_s,
		when_metric, when_op, when_value, alarm_type, severity, message, auto_clear, feature_status)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18) RETURNING id`,
		r.Name, r.DeviceKind, r.DeviceID, r.Metric, r.Kind, r.Op, r.Value, r.Min, r.Max, r.ForS,
		r.WhenMetric, r.WhenOp, r.WhenValue, r.AlarmType, r.Severity, r.Message, r.AutoClear, r.FeatureStatus)
	if err := row.Scan(&r.ID); err != nil {
		return Rule{}, fmt.Errorf("create rule: %w", err)
	}
	return r, s.reloadRules(ctx)
}

// DeleteRule removes a rule (its alarms stay). Returns ENOTFOUND.
func (s *Service) DeleteRule(ctx context.Context, id int64) error {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM rules WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete rule: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errs.NotFound("no rule %d", id)
	}
	return s.reloadRules(ctx)
}

func (s *Service) reloadRules(ctx context.Context) error {
	rules, err := loadRules(ctx, s.Pool)
	if err != nil {
		return err
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	s.rules = rules
	s.mu.Unlock()
	return nil
}

func (s *Service) rule(id int64) (Rule, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
