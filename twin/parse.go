package twin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
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
	if !ndjson {
		if out, ok := fastParse(body); ok {
			return out, nil
		}
	}
	return parseObservations(body, ndjson)
}

// parseObservations is ParseObservations with encoding/json: for any body,
// including those fastParse leaves to it.
func parseObservations(body []byte, ndjson bool) ([]parsed, error) {
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
	if err := decodeStrict(raw, &w); err != nil {
		return parsed{reject: &Rejection{Index: i, Reason: RejectMalformed + ": " + err.Error()}}
	}
	return checkWire(i, w)
}

// decodeStrict decodes the JSON value that b must hold, and nothing else
// but white space, into v, refusing fields v lacks. (json.Decoder.Decode
// alone reads the first value and leaves whatever follows it unread.)
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailingData
	}
	return nil
}

var errTrailingData = errors.New("unexpected data after the JSON value")

// parseTime reads a time a device sends: RFC 3339, with the "T" and "Z"
// in either case (RFC 3339 section 5.6 allows "t" and "z"), e.g.
// 2026-01-02T15:04:05Z, 2026-01-02t15:04:05.5z, 2026-01-02T23:04:05+08:00.
// Every device time (HTTP and MQTT, fast and encoding/json paths) is read
// with it.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil || len(s) <= 10 || (s[10] != 't' && s[len(s)-1] != 'z') {
		return t, err
	}
	b := []byte(s)
	if b[10] == 't' {
		b[10] = 'T'
	}
	if b[len(b)-1] == 'z' {
		b[len(b)-1] = 'Z'
	}
	if t, uerr := time.Parse(time.RFC3339Nano, string(b)); uerr == nil {
		return t, nil
	}
	return t, err
}

// checkWire checks a decoded record.
func checkWire(i int, w obsWire) parsed {
	p := parsed{Observation: Observation{Device: w.Device, Metric: w.Metric}}
	rej := func(reason string) parsed {
		p.reject = &Rejection{Index: i, Device: w.Device, Metric: w.Metric, Reason: reason}
		return p
	}
	if w.Device == "" || w.Metric == "" {
		return rej(RejectMalformed + ": device and metric are required")
	}
	t, err := parseTime(w.Time)
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
	if numberEnd(raw, 0) == len(raw) {
		// A JSON number: what json.Unmarshal would do, without it.
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, false
		}
		return v, true
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
	if ts, values, ok := fastTelemetry(payload); ok {
		return telemetry(ts, values, now)
	}
	return parseTelemetry(payload, now)
}

// parseTelemetry is ParseTelemetry with encoding/json: for any payload,
// including those fastTelemetry leaves to it.
func parseTelemetry(payload []byte, now time.Time) (Telemetry, error) {
	var w struct {
		Time   *string                    `json:"time"`
		Values map[string]json.RawMessage `json:"values"`
	}
	if err := decodeStrict(payload, &w); err != nil {
		return Telemetry{}, errs.Invalid("payload", "expected {\"time\": RFC 3339, \"values\": {METRIC: NUMBER}}: %v", err)
	}
	return telemetry(w.Time, w.Values, now)
}

// telemetry checks a decoded telemetry payload (ts nil: no time given).
func telemetry(ts *string, values map[string]json.RawMessage, now time.Time) (Telemetry, error) {
	tm := Telemetry{Time: now.UTC().Truncate(time.Microsecond), Values: values}
	if ts != nil {
		t, err := parseTime(*ts)
		if err != nil {
			return Telemetry{}, errs.Invalid("time", "time must be RFC 3339")
		}
		tm.Time = t.UTC().Truncate(time.Microsecond)
	}
	if len(values) == 0 {
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
	if err := decodeStrict(payload, &w); err != nil {
		return time.Time{}, errs.Invalid("payload", "expected {\"time\": RFC 3339} or nothing: %v", err)
	}
	if w.Time == nil {
		return now.UTC(), nil
	}
	t, err := parseTime(*w.Time)
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
	if err := decodeStrict(payload, &a); err != nil {
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

// fastParse reads the common shape of an ingest body, a JSON array of flat
// objects whose keys are device, time, metric and value (each at most once)
// with plain ASCII strings (no escapes) and a number value, in one pass
// without reflection, giving what parseObservations gives. Anything else
// (escapes, other keys or types, a malformed body, too many records) makes
// it return false, and the body goes to parseObservations.
func fastParse(b []byte) ([]parsed, bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	out := make([]parsed, 0, len(b)/96+1)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, skipWS(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '{' {
			return nil, false
		}
		var w obsWire
		var seen uint8
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			i++
		} else {
			for {
				key, j, ok := objectKey(b, i)
				if !ok {
					return nil, false
				}
				i = j
				var bit uint8
				switch string(key) {
				case "device":
					bit = 1
					w.Device, i, ok = plainStringValue(b, i)
				case "time":
					bit = 2
					w.Time, i, ok = plainStringValue(b, i)
				case "metric":
					bit = 4
					w.Metric, i, ok = plainStringValue(b, i)
				case "value":
					bit = 8
					end := numberEnd(b, i)
					ok = end > i
					w.Value, i = json.RawMessage(b[i:end]), end
				}
				if bit == 0 || !ok || seen&bit != 0 {
					return nil, false
				}
				seen |= bit
				var sep byte
				if i, sep = separator(b, i, '}'); sep == ',' {
					continue
				} else if sep == '}' {
					break
				}
				return nil, false
			}
		}
		if len(out) == MaxBatch {
			return nil, false
		}
		out = append(out, checkWire(len(out), w))
		var sep byte
		if i, sep = separator(b, i, ']'); sep == ',' {
			continue
		} else if sep == ']' {
			return out, skipWS(b, i) == len(b)
		}
		return nil, false
	}
}

// fastTelemetry reads the usual shape of a telemetry payload,
// {"time": STRING, "values": {METRIC: NUMBER, ...}} (each key at most once,
// plain ASCII strings without escapes), in one pass without reflection,
// giving what encoding/json gives in parseTelemetry. Anything else makes it
// return false, and the payload goes to parseTelemetry.
func fastTelemetry(b []byte) (ts *string, values map[string]json.RawMessage, ok bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, nil, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, nil, false // no values: encoding/json's path says so
	}
	var seen uint8
	for {
		key, j, ok := objectKey(b, i)
		if !ok {
			return nil, nil, false
		}
		i = j
		var bit uint8
		switch string(key) {
		case "time":
			bit = 1
			var t string
			t, i, ok = plainStringValue(b, i)
			ts = &t
		case "values":
			bit = 2
			values, i, ok = fastValues(b, i)
		}
		if bit == 0 || !ok || seen&bit != 0 {
			return nil, nil, false
		}
		seen |= bit
		var sep byte
		if i, sep = separator(b, i, '}'); sep == ',' {
			continue
		} else if sep == '}' {
			return ts, values, skipWS(b, i) == len(b)
		}
		return nil, nil, false
	}
}

// fastValues reads {METRIC: NUMBER, ...} at b[i] (no key twice) and returns
// the index after it.
func fastValues(b []byte, i int) (map[string]json.RawMessage, int, bool) {
	if i >= len(b) || b[i] != '{' {
		return nil, i, false
	}
	values := make(map[string]json.RawMessage, 4)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return values, i + 1, true
	}
	for {
		key, j, ok := objectKey(b, i)
		if !ok {
			return nil, i, false
		}
		i = j
		end := numberEnd(b, i)
		if end == i {
			return nil, i, false
		}
		if _, dup := values[string(key)]; dup {
			return nil, i, false
		}
		values[string(key)] = json.RawMessage(b[i:end])
		var sep byte
		if i, sep = separator(b, end, '}'); sep == ',' {
			continue
		} else if sep == '}' {
			return values, i, true
		}
		return nil, i, false
	}
}

// objectKey reads a plain-string key at b[i] and its colon, and returns
// the key and the index of its value.
func objectKey(b []byte, i int) ([]byte, int, bool) {
	key, j, ok := plainString(b, i)
	if !ok {
		return nil, i, false
	}
	i = skipWS(b, j)
	if i >= len(b) || b[i] != ':' {
		return nil, i, false
	}
	return key, skipWS(b, i+1), true
}

// separator reads what follows a member or element ending at b[i]: a
// comma (returning the index of the next one) or close (returning the
// index after it), or neither (sep 0).
func separator(b []byte, i int, close byte) (next int, sep byte) {
	i = skipWS(b, i)
	switch {
	case i < len(b) && b[i] == ',':
		return skipWS(b, i+1), ','
	case i < len(b) && b[i] == close:
		return i + 1, close
	}
	return i, 0
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at b[i] made only of printable ASCII
// without escapes, and returns it as a view of b and the index after it.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c < 0x20 || c == '\\' || c >= 0x7f:
			return nil, i, false
		}
	}
	return nil, i, false
}

func plainStringValue(b []byte, i int) (string, int, bool) {
	v, j, ok := plainString(b, i)
	return string(v), j, ok
}

// numberEnd returns the index after the JSON number at b[i], or i when
// there is none.
func numberEnd(b []byte, i int) int {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return i
	}
	if j < len(b) && b[j] == '.' {
		k := j + 1
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		if k == j+1 {
			return i
		}
		j = k
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		k := j + 1
		if k < len(b) && (b[k] == '+' || b[k] == '-') {
			k++
		}
		d := k
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		if k == d {
			return i
		}
		j = k
	}
	return j
}
