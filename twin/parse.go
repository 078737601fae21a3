package twin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/citytwin/citytwin/internal/errs"
)

// Observation is one reading of one metric of one device.
type Observation struct {
	Device string    `json:"device"`
	Time   time.Time `json:"time"`
	Metric string    `json:"metric"`
	Value  float64   `json:"value"`
}

// Rejection says why one observation of a batch was refused.
type Rejection struct {
	Index  int    `json:"index"`
	Device string `json:"device,omitempty"`
	Metric string `json:"metric,omitempty"`
	Reason string `json:"reason"`
}

// Reasons of rejections (also the label of the rejected counter).
const (
	RejectMalformed   = "malformed"
	RejectUnknownDev  = "unknown_device"
	RejectForbidden   = "forbidden"
	RejectUnknownMet  = "unknown_metric"
	RejectNotNumber   = "not_a_number"
	RejectOutOfRange  = "out_of_range"
	RejectFuture      = "future_time"
	RejectBadTime     = "bad_time"
	RejectRateLimited = "rate_limited"
)

type obsWire struct {
	Device string          `json:"device"`
	Time   string          `json:"time"`
	Metric string          `json:"metric"`
	Value  json.RawMessage `json:"value"`
}

// parsed is an observation as read, before it is checked against devices.
type parsed struct {
	Observation
	reject *Rejection
}

// MaxBatch is the most observations one HTTP request may carry.
const MaxBatch = 100000

// ParseObservations reads a JSON array, or NDJSON (one object a line) when
// ndjson is true, of {"device","time","metric","value"}. A malformed record
// is rejected on its own (its index says which); a body that is not an
// array at all is an EINVALID error.
func ParseObservations(body []byte, ndjson bool) ([]parsed, error) {
	var raws []json.RawMessage
	if ndjson {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			raws = append(raws, json.RawMessage(append([]byte(nil), line...)))
			if len(raws) > MaxBatch {
				return nil, &errs.Error{Code: errs.ETOOLARGE, Where: "body", Message: fmt.Sprintf("more than %d observations in one request", MaxBatch)}
			}
		}
		if err := sc.Err(); err != nil {
			return nil, errs.Invalid(fmt.Sprintf("line %d", len(raws)+1), "unreadable NDJSON line: %v", err)
		}
	} else {
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) == 0 {
			return nil, errs.Invalid("body", "body is empty; a JSON array of observations is required")
		}
		if trimmed[0] == '{' {
			if !json.Valid(trimmed) {
				var v any
				err := json.Unmarshal(trimmed, &v)
				return nil, errs.Invalid("body", "malformed JSON: %v", err)
			}
			raws = []json.RawMessage{trimmed}
		} else if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, errs.Invalid("body", "expected a JSON array of observations (or NDJSON with Content-Type application/x-ndjson): %v", err)
		}
		if len(raws) > MaxBatch {
			return nil, &errs.Error{Code: errs.ETOOLARGE, Where: "body", Message: fmt.Sprintf("more than %d observations in one request", MaxBatch)}
		}
	}
	out := make([]parsed, len(raws))
	for i, raw := range raws {
		out[i] = parseOne(i, raw)
	}
	return out, nil
}

func parseOne(i int, raw []byte) parsed {
	var w obsWire
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return parsed{reject: &Rejection{Index: i, Reason: RejectMalformed + ": " + err.Error()}}
	}
	p := parsed{Observation: Observation{Device: w.Device, Metric: w.Metric}}
	rej := func(reason string) parsed {
		p.reject = &Rejection{Index: i, Device: w.Device, Metric: w.Metric, Reason: reason}
		return p
	}
	if w.Device == "" || w.Metric == "" {
		return rej(RejectMalformed + ": device and metric are required")
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return rej(RejectBadTime + ": time must be RFC 3339, e.g. 2026-01-02T15:04:05Z")
	}
	p.Time = t.UTC().Truncate(time.Microsecond) // PostgreSQL keeps microseconds
	v, ok := number(w.Value)
	if !ok {
		return rej(RejectNotNumber + ": value must be a JSON number")
	}
	p.Value = v
	return p
}

// number reads a JSON number (not a string, bool or null) that is finite.
func number(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || !(raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		return 0, false
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// Telemetry is the payload of citytwin/devices/{id}/telemetry.
type Telemetry struct {
	Time   time.Time
	Values map[string]json.RawMessage
}

// ParseTelemetry reads {"time": RFC 3339, "values": {METRIC: NUMBER, ...}};
// a missing time means now.
func ParseTelemetry(payload []byte, now time.Time) (Telemetry, error) {
	var w struct {
		Time   *string                    `json:"time"`
		Values map[string]json.RawMessage `json:"values"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Telemetry{}, errs.Invalid("payload", "expected {\"time\": RFC 3339, \"values\": {METRIC: NUMBER}}: %v", err)
	}
	tm := Telemetry{Time: now.UTC().Truncate(time.Microsecond), Values: w.Values}
	if w.Time != nil {
		t, err := time.Parse(time.RFC3339Nano, *w.Time)
		if err != nil {
			return Telemetry{}, errs.Invalid("time", "time must be RFC 3339")
		}
		tm.Time = t.UTC().Truncate(time.Microsecond)
	}
	if len(w.Values) == 0 {
		return Telemetry{}, errs.Invalid("values", "no values")
	}
	return tm, nil
}

// ParseHeartbeat reads {"time"} or an empty payload.
func ParseHeartbeat(payload []byte, now time.Time) (time.Time, error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return now.UTC(), nil
	}
	var w struct {
		Time *string `json:"time"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return time.Time{}, errs.Invalid("payload", "expected {\"time\": RFC 3339} or nothing: %v", err)
	}
	if w.Time == nil {
		return now.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, *w.Time)
	if err != nil {
		return time.Time{}, errs.Invalid("time", "time must be RFC 3339")
	}
	return t.UTC(), nil
}

// CommandAck is the payload of citytwin/devices/{id}/commands/ack.
type CommandAck struct {
	ID    int64                      `json:"id"`
	OK    bool                       `json:"ok"`
	State map[string]json.RawMessage `json:"state,omitempty"`
	Error string                     `json:"error,omitempty"`
}

// ParseCommandAck reads {"id": N, "ok": bool, "state": {...}}.
func ParseCommandAck(payload []byte) (CommandAck, error) {
	var a CommandAck
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return CommandAck{}, errs.Invalid("payload", "expected {\"id\": N, \"ok\": bool, \"state\": {...}}: %v", err)
	}
	if a.ID <= 0 {
		return CommandAck{}, errs.Invalid("id", "id must be the command's id")
	}
	return a, nil
}

// stateValue reads a state value of an ack: a number, or a bool as 1/0.
func stateValue(raw json.RawMessage) (float64, bool) {
	switch strings.TrimSpace(string(raw)) {
	case "true":
		return 1, true
	case "false":
		return 0, true
	}
	return number(raw)
}

// Topic parts of the MQTT contract.
const (
	TopicPrefix = "citytwin/devices/"
)

// ParseTopic splits citytwin/devices/{id}/{rest} into id and rest
// ("telemetry", "heartbeat", "commands", "commands/ack").
func ParseTopic(topic string) (id, rest string, ok bool) {
	if !strings.HasPrefix(topic, TopicPrefix) {
		return "", "", false
	}
	tail := topic[len(TopicPrefix):]
	i := strings.IndexByte(tail, '/')
	if i <= 0 {
		return "", "", false
	}
	id, rest = tail[:i], tail[i+1:]
	switch rest {
	case "telemetry", "heartbeat", "commands", "commands/ack":
		return id, rest, deviceIDRe.MatchString(id)
	}
	return "", "", false
}
